/**
 * The client suite against Starling's own broker: TCP and WebSocket listeners on loopback, users through
 * the AuthLedger hook when the suite asks for credentials.
 */

import { AuthLedger } from '../../src/hooks/auth-ledger.js';
import { hashPassword } from '../../src/hooks/password.js';
import { Broker } from '../../src/index.js';
import { runClientSuite, type SuiteBroker } from './suite.js';

runClientSuite('starling', async (options = {}): Promise<SuiteBroker> => {
  const broker = new Broker({
    ...(options.maxInflightMessages === undefined ? {} : { receiveMaximum: options.maxInflightMessages }),
    listeners: options.websockets === true ? [{ type: 'ws', host: '127.0.0.1', port: 0 }] : [],
  });
  if (options.users !== undefined || options.allowAnonymous === false) {
    const users = await Promise.all(
      Object.entries(options.users ?? {}).map(async ([username, password]) => ({
        username,
        password: await hashPassword(password),
      })),
    );
    await broker.addHook(AuthLedger.fromObject({ users, anonymous: options.allowAnonymous !== false }));
  }
  const [ws] = await broker.start();
  const tcp = await broker.listen({ host: '127.0.0.1', port: options.port ?? 0 });
  const suiteBroker: SuiteBroker = {
    url: `mqtt://127.0.0.1:${tcp.port}`,
    port: tcp.port,
    stop: () => broker.close(),
  };
  if (ws !== undefined && typeof ws !== 'string') suiteBroker.wsUrl = `ws://127.0.0.1:${ws.port}/mqtt`;
  return suiteBroker;
});
