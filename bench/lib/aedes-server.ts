/**
 * Aedes (in-memory defaults) in its own process for the broker benchmark. Prints `{"port":N}` on stdout
 * once listening; exits on SIGTERM.
 */
import net from 'node:net';
import { Aedes } from 'aedes';

const aedes = await Aedes.createBroker();
const server = net.createServer(aedes.handle);
await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
const address = server.address();
if (address === null || typeof address === 'string') throw new Error('aedes server has no TCP address');
process.stdout.write(`${JSON.stringify({ port: address.port })}\n`);

process.on('SIGTERM', () => {
  server.close();
  aedes.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});
