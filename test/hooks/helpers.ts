/** Small helpers shared by the hook tests: bounded waits and an MQTT.js message collector. */
import type { MqttClient } from 'mqtt';

/** Resolve once `predicate` holds; reject after `timeoutMs` (polls every 10 ms, so the loop is bounded). */
export async function waitFor(predicate: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

export interface Received {
  topic: string;
  payload: string;
  retain: boolean;
  qos: number;
}

/** Collect every message an MQTT.js client receives. */
export function collect(client: MqttClient): Received[] {
  const out: Received[] = [];
  client.on('message', (topic, payload, packet) => {
    out.push({ topic, payload: payload.toString(), retain: packet.retain, qos: packet.qos });
  });
  return out;
}
