/**
 * Connection flood benchmark: `npm run flood -- [--attempts 20000]`.
 * 20 000 connection attempts in a burst from several processes (source addresses 127.0.0.2, ...), half of
 * them never sending CONNECT, while 100 clients keep publishing and timing their own messages. Prints the
 * publishers' latency before, during and after the burst, what happened to the connections, how long the
 * silent ones stayed open, and what the broker went through (descriptor exhaustion, memory).
 */
import { parseArgs } from './lib/cli-args.js';
import { quantile, runFlood } from './lib/flood-run.js';

const { values } = parseArgs({
  options: {
    attempts: { type: 'string', default: '20000' },
    processes: { type: 'string', default: '4' },
    'attempt-rate': { type: 'string', default: '0' },
    'sys-interval': { type: 'string', default: '10' },
    publishers: { type: 'string', default: '100' },
    rate: { type: 'string', default: '10' },
    'connect-timeout-ms': { type: 'string', default: '10000' },
    'before-ms': { type: 'string', default: '3000' },
    'after-ms': { type: 'string', default: '3000' },
    'settle-timeout-ms': { type: 'string', default: '60000' },
    help: { type: 'boolean', short: 'h' },
  },
});

if (values.help === true) {
  process.stdout.write(`Usage: node dist/bench/flood.js [options]
  --attempts N            connection attempts in the burst, half silent (default 20000)
  --processes N           generator processes, one source address each (default 4)
  --attempt-rate N        attempts per second in all (default 0: as fast as the generators can)
  --publishers N          clients publishing and timing their messages (default 100)
  --rate N                messages per second per publisher, QoS 0 (default 10)
  --sys-interval S        the broker's $SYS interval, seconds; 0 turns $SYS off (default 10)
  --connect-timeout-ms N  the broker's connect timeout (default 10000, the broker's own)
  --before-ms N           latency baseline before the burst (default 3000)
  --after-ms N            latency after the burst settled (default 3000)
  --settle-timeout-ms N   longest wait for the burst to settle (default 60000)
`);
} else {
  const attempts = Number(values.attempts);
  const connectTimeoutMs = Number(values['connect-timeout-ms']);
  console.log(
    `flood: ${attempts} attempts (${Math.ceil(attempts / 2)} send CONNECT, ${Math.floor(attempts / 2)} stay silent) ` +
      `from ${values.processes} processes${values['attempt-rate'] === '0' ? '' : ` at ${values['attempt-rate']}/s`}; ${values.publishers} publishers at ${values.rate} msg/s each; ` +
      `connect timeout ${connectTimeoutMs} ms`,
  );
  const report = await runFlood({
    attempts,
    processes: Number(values.processes),
    attemptRate: Number(values['attempt-rate']),
    broker: { sysInterval: Number(values['sys-interval']) },
    publishers: Number(values.publishers),
    publishRate: Number(values.rate),
    connectTimeoutMs,
    beforeMs: Number(values['before-ms']),
    afterMs: Number(values['after-ms']),
    settleTimeoutMs: Number(values['settle-timeout-ms']),
    log: (line) => console.log(line),
  });
  console.log('\npublisher round-trip latency (ms)');
  console.log('phase     seconds      sent  received      p50      p99      max');
  for (const p of report.phases) {
    console.log(
      `${p.name.padEnd(8)} ${(p.durationMs / 1000).toFixed(1).padStart(8)} ${String(p.sent).padStart(9)} ${String(p.received).padStart(9)}` +
        ` ${p.p50.toFixed(2).padStart(8)} ${p.p99.toFixed(2).padStart(8)} ${p.max.toFixed(2).padStart(8)}`,
    );
  }
  const closed = [...report.silentClosedAfterMs].sort((a, b) => a - b);
  const closedLow = [...report.silentClosedAfterConnectEventMs].sort((a, b) => a - b);
  const half = Math.ceil(attempts / 2);
  const ms = (sorted: number[], q: number): string => quantile(sorted, q).toFixed(0);
  console.log('\nconnections');
  console.log(
    `  attempted ${report.attempted}, TCP established on the client side ${report.tcpConnected}, burst took ${(report.burstMs / 1000).toFixed(1)} s`,
  );
  console.log(`  connect errors: ${JSON.stringify(report.errors)}`);
  console.log(
    `  CONNECT half: CONNACK ok ${report.connackOk}/${half}, refused ${report.connackRefused}, ` +
      `closed before CONNACK ${report.lostBeforeConnack}, dropped after CONNACK ${report.droppedAfterConnack}`,
  );
  console.log(
    `  silent half: established ${report.silentConnected}, accepted by the broker ${report.silentAcceptedByBroker}, ` +
      `closed by the broker ${closed.length}, still open ${report.silentStillOpen} ` +
      `${
        report.brokerCrash === undefined
          ? `(${report.silentStillOpen - Math.max(0, report.silentAcceptedByBroker - closed.length)} never reached it: accept queue overflow, SYN cookies)`
          : '(the broker crashed)'
      }`,
  );
  console.log(
    `  silent connections kept open, from connect() [from the connect event]: min ${ms(closed, 0)} [${ms(closedLow, 0)}] ` +
      `p50 ${ms(closed, 0.5)} [${ms(closedLow, 0.5)}] p99 ${ms(closed, 0.99)} [${ms(closedLow, 0.99)}] ` +
      `max ${ms(closed, 1)} [${ms(closedLow, 1)}] ms; connect timeout ${connectTimeoutMs} ms`,
  );
  console.log(
    `  worst publisher latencies during the flood: ${report.spikes.map((s) => `${s.latencyMs.toFixed(0)} ms at +${(s.atMs / 1000).toFixed(1)} s`).join(', ')}`,
  );
  console.log('\nbroker');
  console.log(`  crashed: ${report.brokerCrash === undefined ? 'no' : `yes\n${report.brokerCrash.stderr}`}`);
  console.log(
    `  answers a fresh client afterwards: ${report.brokerAliveAfter ? `yes (${report.roundTripAfterMs?.toFixed(1)} ms round trip)` : 'NO'}`,
  );
  console.log(
    `  accepted ${report.brokerAccepted} connections in all (publishers and probes included), held at most ${report.brokerPeakConnections} at once`,
  );
  console.log(`  listener errors: ${JSON.stringify(report.listenerErrors)}`);
  console.log(`  publishers disconnected: ${report.publishersLost}`);
  console.log(
    `  RSS: before ${(report.rssBeforeKiB / 1024).toFixed(0)} MiB, peak ${(report.rssPeakKiB / 1024).toFixed(0)} MiB, after ${(report.rssAfterKiB / 1024).toFixed(0)} MiB`,
  );
  const flood = report.phases.find((p) => p.name === 'flood');
  const ok =
    report.brokerCrash === undefined &&
    report.brokerAliveAfter &&
    report.publishersLost === 0 &&
    (flood?.p99 ?? Infinity) < 50;
  console.log(`\n${ok ? 'OK' : 'NOT OK'}: p99 during the flood ${flood?.p99.toFixed(1)} ms (aim < 50 ms)`);
  process.exitCode = ok ? 0 : 1;
}
