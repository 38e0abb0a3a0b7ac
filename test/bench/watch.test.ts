import assert from 'node:assert/strict';
import { once } from 'node:events';
import net from 'node:net';
import { Writable } from 'node:stream';
import { describe, test } from 'node:test';
import {
  BrokerFlavour,
  type BrokerWatch,
  recogniseSysTopic,
  renderWatchLine,
  renderWatchScreen,
  SysWatchState,
  WatchMetric,
  type WatchModel,
  watchBroker,
} from '../../src/bench/watch.js';
import { runWatchCommand } from '../../src/cli/watch-command.js';
import { type Client, connect } from '../../src/client/index.js';
import { Broker } from '../../src/index.js';
import { collect, startCli } from '../support/cli.js';
import { freePort, startMosquitto } from '../support/mosquitto.js';

function sink(): { stream: Writable; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      text += chunk.toString();
      callback();
    },
  });
  return { stream, text: () => text };
}

/** A publisher and a subscriber exchanging ~100 QoS 0 messages per second until stopped. */
async function startTraffic(url: string): Promise<{ stop(): Promise<void> }> {
  const subscriber: Client = await connect(url, { protocolVersion: 4, reconnect: false });
  await subscriber.subscribe('watch-test/#');
  const publisher: Client = await connect(url, { protocolVersion: 4, reconnect: false });
  let sent = 0;
  // Bounded: stopped by the test, and never more than 10 000 messages.
  const timer = setInterval(() => {
    for (let i = 0; i < 10 && sent < 10_000; i++, sent++) void publisher.publish('watch-test/load', 'x');
  }, 100);
  return {
    async stop() {
      clearInterval(timer);
      await publisher.end();
      await subscriber.end();
    },
  };
}

/** A connection whose first byte is not CONNECT: the broker closes it and counts it refused (malformed). */
async function sendGarbage(port: number): Promise<void> {
  const socket = net.connect(port, '127.0.0.1');
  socket.on('error', () => undefined);
  socket.write(Buffer.from([0xff, 0x00]));
  await once(socket, 'close');
}

/** Polls the watch until `ready(model)` or the time bound. */
async function modelWhen(
  watch: BrokerWatch,
  ready: (model: WatchModel) => boolean,
  timeoutMs = 8000,
): Promise<WatchModel> {
  const deadline = Date.now() + timeoutMs;
  let model = watch.model();
  while (!ready(model) && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    model = watch.model();
  }
  return model;
}

const hasRates = (model: WatchModel): boolean =>
  (model.rates.messagesReceived ?? 0) > 0 && (model.values.clientsConnected ?? 0) >= 2;

describe('$SYS topic names', () => {
  test('Mosquitto/Starling and EMQX (slashes and dots) map onto the same metrics', () => {
    assert.deepEqual(recogniseSysTopic('$SYS/broker/clients/connected'), {
      kind: 'metric',
      flavour: BrokerFlavour.Unknown,
      node: '',
      metric: WatchMetric.ClientsConnected,
    });
    assert.equal(recogniseSysTopic('$SYS/broker/publish/messages/dropped')?.kind, 'metric');
    assert.deepEqual(recogniseSysTopic('$SYS/brokers/emqx@127.0.0.1/stats/connections.count'), {
      kind: 'metric',
      flavour: BrokerFlavour.Emqx,
      node: 'emqx@127.0.0.1',
      metric: WatchMetric.ClientsConnected,
    });
    const received = recogniseSysTopic('$SYS/brokers/emqx@10.0.0.2/metrics/messages/received');
    assert.equal(received?.kind === 'metric' ? received.metric : undefined, WatchMetric.MessagesReceived);
    const dropped = recogniseSysTopic('$SYS/brokers/n1/metrics/messages.dropped');
    assert.equal(dropped?.kind === 'metric' ? dropped.metric : undefined, WatchMetric.MessagesDropped);
    assert.equal(recogniseSysTopic('$SYS/brokers/n1/version')?.kind, 'version');
    assert.equal(recogniseSysTopic('$SYS/broker/load/messages/received/1min'), undefined);
    assert.equal(recogniseSysTopic('$SYS/brokers/n1/clients/c1/connected'), undefined);
    assert.equal(recogniseSysTopic('sensors/1'), undefined);
  });
});

describe('SysWatchState', () => {
  test('rates come from two live values; retained values are not a time reference', () => {
    const state = new SysWatchState();
    state.ingest('$SYS/broker/version', 'mosquitto version 2.0.11', true, 0);
    state.ingest('$SYS/broker/publish/messages/received', '1000', true, 0);
    state.ingest('$SYS/broker/clients/connected', '3', true, 0);
    let model = state.model(0);
    assert.equal(model.flavour, BrokerFlavour.Mosquitto);
    assert.equal(model.values.messagesReceived, 1000);
    assert.equal(model.rates.messagesReceived, undefined);
    state.ingest('$SYS/broker/publish/messages/received', '1500', false, 1000);
    assert.equal(state.model(1000).rates.messagesReceived, undefined, 'one live value is no rate');
    state.ingest('$SYS/broker/publish/messages/received', '2500', false, 3000);
    model = state.model(3100);
    assert.equal(model.rates.messagesReceived, 500);
    assert.equal(model.values.clientsConnected, 3);
    // Brokers publish only changes: long silence means the counter stopped.
    assert.equal(state.model(3000 + 6001).rates.messagesReceived, 0);
    // A counter that went down (broker restart) gives no rate until the next value.
    state.ingest('$SYS/broker/publish/messages/received', '10', false, 4000);
    assert.equal(state.model(4000).rates.messagesReceived, undefined);
  });

  test('EMQX figures are summed over nodes', () => {
    const state = new SysWatchState();
    for (const [node, base] of [
      ['emqx@a', 100],
      ['emqx@b', 1000],
    ] as const) {
      state.ingest(`$SYS/brokers/${node}/stats/connections.count`, String(base / 100), false, 0);
      state.ingest(`$SYS/brokers/${node}/metrics/messages.received`, String(base), false, 0);
      state.ingest(`$SYS/brokers/${node}/metrics/messages.received`, String(base * 2), false, 1000);
    }
    const model = state.model(1000);
    assert.equal(model.flavour, BrokerFlavour.Emqx);
    assert.deepEqual(model.nodes, ['emqx@a', 'emqx@b']);
    assert.equal(model.values.clientsConnected, 11);
    assert.equal(model.rates.messagesReceived, 1100);
    const screen = renderWatchScreen(model, { url: 'mqtt://emqx:1883' });
    assert.match(screen, /\[emqx\]/);
    assert.match(screen, /connected 11/);
    assert.match(screen, /messages in {4}1,100\/s/);
    assert.match(renderWatchLine(model), /clients=11 in=1,100\/s/);
  });
});

describe('watch against brokers', () => {
  test('Starling with sysInterval 1: clients, message rates and refusals', async () => {
    // One subscription per session: the watch and the traffic hold one each, the forger asks for two.
    const broker = new Broker({ sysInterval: 1, maxSubscriptions: 1 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    const url = `mqtt://127.0.0.1:${address.port}`;
    const traffic = await startTraffic(url);
    const watch = await watchBroker(url);
    try {
      const model = await modelWhen(watch, hasRates);
      assert.equal(model.flavour, BrokerFlavour.Starling);
      assert.ok((model.values.clientsConnected ?? 0) >= 2, `clients ${model.values.clientsConnected}`);
      assert.ok((model.rates.messagesReceived ?? 0) > 0, `rate ${model.rates.messagesReceived}`);
      assert.ok((model.rates.messagesSent ?? 0) > 0, `sent rate ${model.rates.messagesSent}`);
      assert.match(renderWatchScreen(model), /\[starling\] starling version/);
      // A refused PUBLISH (clients may not write $SYS) shows as refused, Starling's own figure.
      const forger: Client = await connect(url, { protocolVersion: 4, reconnect: false });
      await forger.publish('$SYS/broker/forged', 'x');
      // A filter past the quota is refused, and so is a connection whose first byte is not CONNECT.
      await assert.rejects(forger.subscribe(['watch/a', 'watch/b']), /refused/);
      await forger.end();
      await sendGarbage(address.port);
      const refused = await modelWhen(
        watch,
        (m) =>
          (m.values.messagesRefused ?? 0) >= 1 &&
          (m.values.connectionsRefused ?? 0) >= 1 &&
          (m.values.subscriptionsRefused ?? 0) >= 1,
      );
      assert.equal(refused.values.messagesRefused, 1);
      assert.equal(refused.values.connectionsRefused, 1);
      assert.equal(refused.values.subscriptionsRefused, 1);
      const screen = renderWatchScreen(refused);
      assert.match(screen, /dropped .* refused .*\(total 1\)/);
      assert.match(screen, /refused {8}connections \S+ {3}\(total 1\) {3}subscriptions \S+ {3}\(total 1\)/);
      assert.match(
        renderWatchLine(refused),
        / refused=\S+ refused_total=1 connections_refused=\S+ connections_refused_total=1 subscriptions_refused=\S+ subscriptions_refused_total=1\n$/,
      );
    } finally {
      await watch.close();
      await traffic.stop();
      await broker.close();
    }
  });

  test('mosquitto with sys_interval 1: clients and message rates', async () => {
    const mosquitto = await startMosquitto({ config: ['sys_interval 1'] });
    const traffic = await startTraffic(mosquitto.url);
    const watch = await watchBroker(mosquitto.url);
    try {
      const model = await modelWhen(watch, hasRates);
      assert.equal(model.flavour, BrokerFlavour.Mosquitto);
      assert.ok((model.values.clientsConnected ?? 0) >= 2, `clients ${model.values.clientsConnected}`);
      assert.ok((model.rates.messagesReceived ?? 0) > 0, `rate ${model.rates.messagesReceived}`);
      assert.match(model.version ?? '', /^mosquitto version/);
    } finally {
      await watch.close();
      await traffic.stop();
      await mosquitto.stop();
    }
  });
});

describe('starling watch (command)', () => {
  test('--once prints one screen with rates and exits 0 (through the CLI entry)', async () => {
    const broker = new Broker({ sysInterval: 1 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    const traffic = await startTraffic(`mqtt://127.0.0.1:${address.port}`);
    try {
      const result = await collect(
        startCli(['watch', '-h', '127.0.0.1', '-p', String(address.port), '--once'], { timeoutMs: 25_000 }),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout.match(/^starling watch/gm)?.length, 1, result.stdout);
      assert.match(result.stdout, /clients {8}connected [1-9]/);
      assert.match(result.stdout, /messages in {4}[0-9.,]+\/s/);
      assert.ok(!result.stdout.includes('\u001b['), 'no terminal control codes when stdout is a pipe');
    } finally {
      await traffic.stop();
      await broker.close();
    }
  });

  test('not a TTY: one line per interval until --duration, then exit 0; SIGINT also exits 0', async () => {
    const broker = new Broker({ sysInterval: 1 });
    const address = await broker.listen({ host: '127.0.0.1', port: 0 });
    try {
      const out = sink();
      const code = await runWatchCommand(
        ['--url', `mqtt://127.0.0.1:${address.port}`, '--interval', '0.2', '--duration', '0.7'],
        {
          stdout: out.stream,
          stderr: sink().stream,
        },
      );
      assert.equal(code, 0);
      const lines = out.text().trim().split('\n');
      assert.ok(lines.length >= 2 && lines.length <= 6, out.text());
      for (const line of lines)
        assert.match(
          line,
          /^\d{4}-\d\d-\d\dT.*Z clients=\S+ in=\S+ out=\S+ dropped=\S+ dropped_total=\S+( refused=\S+ refused_total=\S+)?( connections_refused=\S+ connections_refused_total=\S+)?( subscriptions_refused=\S+ subscriptions_refused_total=\S+)?$/,
        );

      const child = startCli(['watch', '-h', '127.0.0.1', '-p', String(address.port), '--interval', '0.2'], {
        timeoutMs: 25_000,
      });
      const done = collect(child);
      let printed = '';
      child.stdout?.on('data', (chunk: Buffer) => {
        printed += chunk.toString();
        if (printed.includes('\n')) child.kill('SIGINT');
      });
      const result = await done;
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /clients=/);
    } finally {
      await broker.close();
    }
  });

  test('an unreachable broker: clear message, exit 1', async () => {
    const port = await freePort();
    const err = sink();
    const code = await runWatchCommand(['-h', '127.0.0.1', '-p', String(port), '--once'], {
      stdout: sink().stream,
      stderr: err.stream,
    });
    assert.equal(code, 1);
    assert.match(err.text(), /cannot watch mqtt:\/\/127\.0\.0\.1:\d+/);
  });
});
