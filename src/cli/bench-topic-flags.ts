/**
 * The topic flags of `starling bench publish | subscribe`: the publishers' topic template, checked before a
 * run, and the filter that receives what they send.
 */
import { topicTemplate } from '../bench/scenarios/common.js';
import { isValidTopicName } from '../packets/topic.js';

export const DEFAULT_PUBLISH_TOPIC = 'mqtt-malaria/{client}/data/{n}';

/**
 * Why publishers of client id prefix `clientId` cannot publish to `template` once `{client}`, `{process}`
 * and `{n}` are filled in, or undefined when they can. Checked up front: every publish to an invalid topic
 * name fails, so such a run would measure nothing.
 */
export function topicTemplateProblem(template: string, clientId: string): string | undefined {
  const wildcards = [...new Set(template.match(/[+#]/g) ?? [])];
  if (wildcards.length > 0) {
    const named = wildcards.map((c) => `'${c}'`).join(' and ');
    return `--topic '${template}' contains ${named}: a topic to publish to is a topic name, which cannot hold the wildcards '+' and '#'`;
  }
  if (template.includes('\0')) return `--topic must not contain U+0000`;
  // A real client's id, process and message number: `{client}` is `<prefix>-<process>-<client>`.
  const example = topicTemplate(template, `${clientId}-0-0`, 0)(0);
  if (example === '') return '--topic is empty: a topic name has at least one character';
  if (isValidTopicName(example)) return undefined;
  if (Buffer.byteLength(example, 'utf8') > 0xffff) {
    return `--topic '${template}' expands to more than 65535 bytes ('${example.slice(0, 40)}...')`;
  }
  return `-c/--clientid '${clientId}' makes the topic '${example}' (from --topic '${template}') an invalid topic name: '+', '#' and U+0000 are not allowed`;
}

/**
 * The filter that receives what publishers send to `template`: the levels before the first one holding a
 * placeholder, then `#` (`mqtt-malaria/{client}/data/{n}` gives `mqtt-malaria/#`).
 */
export function filterForTemplate(template: string): string {
  const levels = template.split('/');
  const first = levels.findIndex((level) => /\{[a-z]+\}/.test(level));
  return first < 0 ? template : [...levels.slice(0, first), '#'].join('/');
}
