import assert from 'node:assert/strict';
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import mqtt, { type IPublishPacket, type MqttClient } from 'mqtt';
import { Broker } from '../../src/index.js';
import { engineOf } from '../../src/server/broker.js';

/**
 * Interop with the Mosquitto command line clients (Debian `mosquitto-clients`, installed by `.ci/run`):
 * `mosquitto_pub` / `mosquitto_sub` speaking 3.1, 3.1.1 and 5 to the broker, with MQTT.js on the other
 * side where a second, independent client is needed.
 */

const WAIT_MS = 5_000;
/** mosquitto_sub output lines that carry a message start with this marker (set through `-F`). */
const MARK = 'MSG|';
/** `-F` format: QoS, retain flag, topic, payload. */
const FORMAT = `${MARK}%q|%r|%t|%p`;

interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

interface SubMessage {
  qos: number;
  retain: boolean;
  topic: string;
  payload: string;
}

/** A running mosquitto_sub, always with an explicit client id so readiness can be read off the broker. */
class MosquittoSub {
  readonly messages: SubMessage[] = [];
  readonly lines: string[] = [];
  readonly exited: Promise<RunResult>;
  private stdout = '';
  private stderr = '';

  constructor(
    readonly child: ChildProcess,
    private readonly broker: Broker,
    readonly clientId: string,
    private readonly filters: number,
  ) {
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stdout += chunk;
      let nl = this.stdout.indexOf('\n');
      while (nl >= 0) {
        const line = this.stdout.slice(0, nl);
        this.stdout = this.stdout.slice(nl + 1);
        this.lines.push(line);
        if (line.startsWith(MARK)) {
          const [qos, retain, topic, ...rest] = line.slice(MARK.length).split('|');
          this.messages.push({
            qos: Number(qos),
            retain: retain === '1',
            topic: topic ?? '',
            payload: rest.join('|'),
          });
        }
        nl = this.stdout.indexOf('\n');
      }
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      this.stderr += chunk;
    });
    this.exited = new Promise((resolve) => {
      child.once('close', (code, signal) =>
        resolve({ code, signal, stdout: this.lines.join('\n'), stderr: this.stderr }),
      );
    });
  }

  /**
   * Resolves once the broker holds all of this client's subscriptions. mosquitto_sub block-buffers its debug
   * output on a pipe, so the broker's session is the reliable place to see the SUBSCRIBE was processed.
   */
  async subscribed(): Promise<void> {
    await waitFor(() => {
      const session = engineOf(this.broker).sessions.get(this.clientId);
      return session?.link !== undefined && session.subscriptions.size >= this.filters;
    }, `${this.clientId} subscribed; stderr: ${this.stderr}`);
  }

  async messageCount(n: number): Promise<SubMessage[]> {
    await waitFor(() => this.messages.length >= n, `${n} messages, got ${this.messages.length}`);
    return this.messages;
  }
}

async function waitFor(condition: () => boolean, what: string, timeoutMs = WAIT_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

function subscriberInbox(client: MqttClient): { topic: string; payload: Buffer; packet: IPublishPacket }[] {
  const inbox: { topic: string; payload: Buffer; packet: IPublishPacket }[] = [];
  client.on('message', (topic, payload, packet) => inbox.push({ topic, payload, packet }));
  return inbox;
}

describe('interop: mosquitto_pub / mosquitto_sub against the broker', () => {
  let broker: Broker;
  let port: number;
  let url: string;
  const children = new Set<ChildProcess>();
  const clients: MqttClient[] = [];
  let scratch: string;

  /** Start a command with a hard timeout; it is killed in teardown if still running. */
  function start(command: string, args: string[], stdin?: string | Buffer): ChildProcess {
    const child = spawn(command, args, {
      stdio: ['pipe', 'pipe', 'pipe'],
      timeout: 15_000,
      killSignal: 'SIGKILL',
    });
    children.add(child);
    child.once('close', () => children.delete(child));
    if (stdin !== undefined) child.stdin?.end(stdin);
    else child.stdin?.end();
    return child;
  }

  function run(command: string, args: string[], stdin?: string | Buffer): Promise<RunResult> {
    const child = start(command, args, stdin);
    let stdout = '';
    let stderr = '';
    child.stdout?.setEncoding('utf8').on('data', (c: string) => {
      stdout += c;
    });
    child.stderr?.setEncoding('utf8').on('data', (c: string) => {
      stderr += c;
    });
    return new Promise((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal, stdout, stderr })),
    );
  }

  const conn = (): string[] => ['-h', '127.0.0.1', '-p', String(port)];

  async function pub(args: string[], stdin?: string | Buffer): Promise<void> {
    const r = await run('mosquitto_pub', [...conn(), ...args], stdin);
    assert.equal(r.code, 0, `mosquitto_pub ${args.join(' ')} failed: ${r.stderr}`);
  }

  let subCount = 0;
  /** Start mosquitto_sub; `args` may carry `-i id`, otherwise a fresh id is used. */
  function sub(args: string[]): MosquittoSub {
    const idAt = args.indexOf('-i');
    const clientId = idAt >= 0 ? (args[idAt + 1] ?? '') : `mq-sub-${++subCount}`;
    const idArgs = idAt >= 0 ? [] : ['-i', clientId];
    const filters = args.filter((a) => a === '-t').length;
    const child = start('mosquitto_sub', [...conn(), ...idArgs, '-F', FORMAT, ...args]);
    return new MosquittoSub(child, broker, clientId, filters);
  }

  async function mqttjs(protocolVersion: 4 | 5): Promise<MqttClient> {
    const client = await mqtt.connectAsync(url, {
      protocolVersion,
      reconnectPeriod: 0,
      connectTimeout: WAIT_MS,
    });
    clients.push(client);
    return client;
  }

  before(async () => {
    const probe = spawnSync('mosquitto_pub', ['--help']);
    assert.equal(probe.error, undefined, 'mosquitto_pub not found: apt-get install -y mosquitto-clients');
    broker = new Broker();
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    port = address.port;
    url = `mqtt://127.0.0.1:${port}`;
    scratch = mkdtempSync(join(tmpdir(), 'starling-interop-'));
  });

  after(async () => {
    for (const child of children) child.kill('SIGKILL');
    for (const client of clients) client.end(true);
    await broker.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  for (const [version, flag] of [
    ['3.1', 'mqttv31'],
    ['3.1.1', 'mqttv311'],
    ['5', 'mqttv5'],
  ] as const) {
    it(`MQTT ${version}: mosquitto_sub receives what mosquitto_pub sends (-V ${flag})`, async () => {
      const topic = `mq/version/${flag}`;
      const s = sub(['-V', flag, '-i', `sub-${flag}`, '-t', topic, '-q', '1', '-C', '1']);
      await s.subscribed();
      await pub(['-V', flag, '-i', `pub-${flag}`, '-t', topic, '-q', '1', '-m', `hello ${version}`]);
      const result = await s.exited;
      assert.equal(result.code, 0);
      assert.deepEqual(s.messages, [{ qos: 1, retain: false, topic, payload: `hello ${version}` }]);
    });
  }

  for (const qos of [0, 1, 2] as const) {
    it(`QoS ${qos}: mosquitto_pub -> MQTT.js and MQTT.js -> mosquitto_sub`, async () => {
      const topic = `mq/qos/${qos}`;
      const js = await mqttjs(5);
      const inbox = subscriberInbox(js);
      await js.subscribeAsync(`${topic}/in`, { qos: 2 });
      await pub(['-t', `${topic}/in`, '-q', String(qos), '-m', `in${qos}`]);
      await waitFor(() => inbox.length === 1, 'MQTT.js message');
      assert.equal(inbox[0]?.payload.toString(), `in${qos}`);
      assert.equal(inbox[0]?.packet.qos, qos);

      const s = sub(['-t', `${topic}/out`, '-q', '2', '-C', '1']);
      await s.subscribed();
      await js.publishAsync(`${topic}/out`, `out${qos}`, { qos });
      assert.equal((await s.exited).code, 0);
      assert.deepEqual(s.messages, [{ qos, retain: false, topic: `${topic}/out`, payload: `out${qos}` }]);
    });
  }

  it('3.1.1 [MQTT-3.3.1-8] 3.1.1 [MQTT-3.3.1-10] retained: set with -r, received on subscribe with -v, cleared with -r -n', async () => {
    const topic = 'mq/retained/a';
    await pub(['-t', topic, '-r', '-q', '1', '-m', 'kept']);
    const v = await run('mosquitto_sub', [...conn(), '-t', topic, '-v', '-C', '1', '-W', '5']);
    assert.equal(v.code, 0, v.stderr);
    assert.equal(v.stdout, `${topic} kept\n`);
    const s = sub(['-t', 'mq/retained/#', '-C', '1']);
    await s.messageCount(1);
    assert.deepEqual(s.messages[0], { qos: 0, retain: true, topic, payload: 'kept' });

    await pub(['-t', topic, '-r', '-n']);
    // --retained-only exits at the first non-retained message: nothing may be printed before it.
    const after = sub(['-t', topic, '--retained-only']);
    await after.subscribed();
    await pub(['-t', topic, '-m', 'live']);
    const r = await after.exited;
    assert.equal(r.code, 0);
    assert.deepEqual(after.messages, [], 'the retained message was cleared');
  });

  it('wildcards: + and # subscriptions from mosquitto_sub', async () => {
    const s = sub(['-t', 'mq/wild/+/x', '-t', 'mq/wild/deep/#', '-q', '1', '-C', '3']);
    await s.subscribed();
    await pub(['-t', 'mq/wild/a/y', '-q', '1', '-m', 'no']);
    await pub(['-t', 'mq/wild/a/x', '-q', '1', '-m', 'plus']);
    await pub(['-t', 'mq/wild/deep', '-q', '1', '-m', 'parent']);
    await pub(['-t', 'mq/wild/deep/1/2', '-q', '1', '-m', 'hash']);
    assert.equal((await s.exited).code, 0);
    assert.deepEqual(
      s.messages.map((m) => `${m.topic} ${m.payload}`),
      ['mq/wild/a/x plus', 'mq/wild/deep parent', 'mq/wild/deep/1/2 hash'],
    );
  });

  it('3.1.1 [MQTT-3.1.2-8] will: mosquitto_sub --will-topic killed with SIGKILL -> the will reaches an MQTT.js subscriber', async () => {
    const js = await mqttjs(4);
    const inbox = subscriberInbox(js);
    await js.subscribeAsync('mq/will', { qos: 1 });
    const s = sub([
      '-t',
      'mq/will-dummy',
      '--will-topic',
      'mq/will',
      '--will-payload',
      'died',
      '--will-qos',
      '1',
    ]);
    await s.subscribed();
    s.child.kill('SIGKILL');
    await waitFor(() => inbox.length === 1, 'will message');
    assert.equal(inbox[0]?.payload.toString(), 'died');
    assert.equal(inbox[0]?.packet.qos, 1);
  });

  it('3.1.1 [MQTT-3.1.2-5] clean session false: mosquitto_sub -c -i id -q 1 gets what was published while it was away', async () => {
    const topic = 'mq/offline';
    const first = sub(['-c', '-i', 'mq-offline', '-q', '1', '-t', topic]);
    await first.subscribed();
    first.child.kill('SIGKILL');
    await first.exited;
    await waitFor(() => engineOf(broker).sessions.get('mq-offline')?.link === undefined, 'session offline');
    await pub(['-t', topic, '-q', '1', '-m', 'queued-1']);
    await pub(['-t', topic, '-q', '1', '-m', 'queued-2']);
    const second = sub(['-c', '-i', 'mq-offline', '-q', '1', '-t', topic, '-C', '2']);
    assert.equal((await second.exited).code, 0);
    assert.deepEqual(
      second.messages.map((m) => [m.payload, m.qos]),
      [
        ['queued-1', 1],
        ['queued-2', 1],
      ],
    );
  });

  it('[MQTT-3.3.2-15] [MQTT-3.3.2-16] [MQTT-3.3.2-17] [MQTT-3.3.2-20] v5 properties from mosquitto_pub -D reach an MQTT.js v5 subscriber', async () => {
    const js = await mqttjs(5);
    const inbox = subscriberInbox(js);
    await js.subscribeAsync('mq/props', { qos: 1 });
    await pub([
      '-V',
      'mqttv5',
      '-t',
      'mq/props',
      '-q',
      '1',
      '-m',
      'p',
      '-D',
      'publish',
      'user-property',
      'a',
      'b',
      '-D',
      'publish',
      'content-type',
      'x',
      '-D',
      'publish',
      'response-topic',
      'mq/reply',
      '-D',
      'publish',
      'correlation-data',
      'c0rr',
    ]);
    await waitFor(() => inbox.length === 1, 'message with properties');
    const props = inbox[0]?.packet.properties;
    assert.deepEqual({ ...props?.userProperties }, { a: 'b' });
    assert.equal(props?.contentType, 'x');
    assert.equal(props?.responseTopic, 'mq/reply');
    assert.equal(Buffer.from(props?.correlationData ?? []).toString(), 'c0rr');
  });

  it('mosquitto_pub -l sends one message per stdin line, in order', async () => {
    const count = 200;
    const js = await mqttjs(4);
    const inbox = subscriberInbox(js);
    await js.subscribeAsync('mq/lines', { qos: 1 });
    const lines = Array.from({ length: count }, (_, i) => `line ${i}`);
    await pub(['-t', 'mq/lines', '-q', '1', '-l'], `${lines.join('\n')}\n`);
    await waitFor(() => inbox.length === count, `${count} lines`);
    assert.deepEqual(
      inbox.map((m) => m.payload.toString()),
      lines,
    );
  });

  it('a 1 MiB payload from mosquitto_pub -f arrives intact at MQTT.js', async () => {
    const payload = Buffer.alloc(1024 * 1024);
    for (let i = 0; i < payload.length; i++) payload[i] = (i * 7 + 3) & 0xff;
    const file = join(scratch, 'large.bin');
    writeFileSync(file, payload);
    const js = await mqttjs(5);
    const inbox = subscriberInbox(js);
    await js.subscribeAsync('mq/large', { qos: 1 });
    await pub(['-t', 'mq/large', '-q', '1', '-f', file]);
    await waitFor(() => inbox.length === 1, 'large message');
    assert.ok(inbox[0]?.payload.equals(payload));
  });
});
