/**
 * What can stop a bench run before it starts, and the check that finds it: the broker (every broker, when
 * the clients are spread over several) must accept a connection with the run's settings.
 */
import { connect } from '../client/index.js';
import { MqttError } from '../packets/errors.js';
import { type ConnectionSettings, clientOptions } from './scenarios/common.js';

/** The run could not start: broker unreachable, connection refused, authentication failed, agents refused. */
export class BenchSetupError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'BenchSetupError';
  }
}

/** Says in one line why a connection attempt failed. */
export function describeConnectError(url: string, error: unknown): string {
  if (error instanceof MqttError) {
    const code = `0x${error.reasonCode.toString(16).padStart(2, '0')}`;
    return `broker ${url} refused the connection: ${error.message} (reason code ${code})`;
  }
  const code = (error as { code?: unknown }).code;
  const message = error instanceof Error ? error.message : String(error);
  if (code === 'ECONNREFUSED') return `cannot connect to ${url}: connection refused`;
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return `cannot connect to ${url}: unknown host`;
  return `cannot connect to ${url}: ${message}`;
}

/** Checks that `connection` reaches its broker (every broker, when there are several). */
export async function probeBroker(connection: ConnectionSettings, clientId: string): Promise<void> {
  const urls =
    connection.urls !== undefined && connection.urls.length > 0 ? connection.urls : [connection.url];
  for (const url of urls) {
    try {
      const client = await connect(url, clientOptions(connection, `${clientId}-probe`));
      await client.end({ timeoutMs: 2000 });
    } catch (error) {
      throw new BenchSetupError(describeConnectError(url, error), { cause: error });
    }
  }
}
