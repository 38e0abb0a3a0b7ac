/**
 * Starling: an MQTT 3.1 / 3.1.1 / 5.0 broker, client library and load-testing toolkit.
 * This is the package's main entry (`import { Broker } from 'starling'`).
 */

export type * from './broker/hooks.js';
export type { InjectTarget, InProcessClient, InProcessClientOptions } from './broker/injection.js';
export type {
  InlineDelivery,
  InlineHandler,
  InlineSubscribeOptions,
  Unsubscribe,
} from './broker/inline-client.js';
export type { Message } from './broker/message.js';
export type { BrokerOptions } from './broker/options.js';
export { DEFAULT_BROKER_OPTIONS } from './broker/options.js';
export type { ConnectionFacts, ConnectionPort, ListenerAdmission } from './broker/port.js';
export type * from './broker/storage.js';
export { ClusterUnavailableError } from './cluster/backend.js';
export type { RedisClusterOptions } from './cluster/redis-options.js';
export { ConfigError, loadConfig } from './config/load.js';
export { publishRateLimiter } from './config/publish-rate.js';
export { allowAll, isLoopbackAddress, loopbackOnly } from './hooks/allow-all.js';
export {
  AuthLedger,
  type LedgerAccess,
  type LedgerConfig,
  LedgerConfigError,
  type LedgerRule,
  type LedgerUser,
} from './hooks/auth-ledger.js';
export { hashPassword, verifyPassword } from './hooks/password.js';
export type { Listener, ListenerAddress, ListenerConfig } from './listeners/listener.js';
export { MqttError } from './packets/errors.js';
export { ReasonCode } from './packets/reason-codes.js';
export type { Packet, Properties, QoS } from './packets/types.js';
export {
  Broker,
  type BrokerConstructorOptions,
  type BrokerLogger,
  type BrokerStatsView,
  type ListenOptions,
} from './server/broker.js';
export {
  type Durability,
  type SqliteStorageOptions,
  SqliteStore,
  StorageOpenError,
  sqliteStorage,
} from './storage/sqlite.js';
