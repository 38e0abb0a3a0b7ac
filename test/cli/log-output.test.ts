import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { textLine } from '../../src/cli/log-output.js';

/** `--log-format text`: pino's JSON lines turned into lines for people. */
describe('text log lines', () => {
  test('time, level, pid and message first, then the fields, quoted only when they need it', () => {
    const json = JSON.stringify({
      level: 30,
      time: Date.UTC(2026, 11, 7, 20, 39, 24, 785),
      pid: 3601,
      msg: 'listener tcp started',
      listener: 'tcp',
      address: '0.0.0.0',
      port: 1883,
      tls: false,
      name: 'a b',
      nested: { x: 1 },
    });
    assert.equal(
      textLine(`${json}\n`),
      '2026-12-07T20:39:24.785Z INFO  [3601] listener tcp started  listener=tcp address=0.0.0.0 port=1883 tls=false name="a b" nested={"x":1}\n',
    );
  });

  test('an error shows its message, and its stack at error level only', () => {
    const err = {
      type: 'Error',
      message: 'disk full',
      stack: 'Error: disk full\n    at commit (store.js:1:1)',
    };
    const at = (level: number): string =>
      textLine(JSON.stringify({ level, time: 0, pid: 1, msg: 'commit failed', err }));
    assert.equal(
      at(50),
      '1970-01-01T00:00:00.000Z ERROR [1] commit failed  err="disk full"\n    Error: disk full\n    at commit (store.js:1:1)\n',
    );
    assert.equal(at(40), '1970-01-01T00:00:00.000Z WARN  [1] commit failed  err="disk full"\n');
  });

  test('a line that is not JSON is passed on as it came', () => {
    assert.equal(textLine('plain words'), 'plain words\n');
    assert.equal(textLine('{broken\n'), '{broken\n');
  });
});
