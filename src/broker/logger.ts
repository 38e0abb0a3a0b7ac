/** Where the engine writes what it has to say; the CLI passes pino, the library defaults to silence. */
export interface BrokerLogger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: BrokerLogger = { info() {}, warn() {}, error() {}, debug() {} };
