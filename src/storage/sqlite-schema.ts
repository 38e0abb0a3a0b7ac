/**
 * The SQLite schema of the store: version 1. A delivery names its message by `message_id` (a row of
 * `messages`, shared by every session the message went to) or carries it inline (`m_*` columns) when it was
 * the message's first delivery: one row to write and delete for the common case of one subscriber.
 */
export const SCHEMA_VERSION = 1;

export const SCHEMA = `
CREATE TABLE IF NOT EXISTS meta (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS sessions (
  client_id TEXT PRIMARY KEY,
  expiry INTEGER NOT NULL,
  protocol INTEGER NOT NULL,
  username TEXT,
  connected INTEGER NOT NULL,
  disconnected_at INTEGER NOT NULL,
  will TEXT,
  will_due_at INTEGER
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS subscriptions (
  client_id TEXT NOT NULL,
  key TEXT NOT NULL,
  qos INTEGER NOT NULL,
  no_local INTEGER NOT NULL,
  retain_as_published INTEGER NOT NULL,
  retain_handling INTEGER NOT NULL,
  subscription_id INTEGER,
  PRIMARY KEY (client_id, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  id INTEGER PRIMARY KEY,
  topic TEXT NOT NULL,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  properties TEXT,
  expires_at INTEGER,
  origin TEXT
);
CREATE TABLE IF NOT EXISTS deliveries (
  client_id TEXT NOT NULL,
  seq INTEGER NOT NULL,
  message_id INTEGER,
  m_topic TEXT,
  m_payload BLOB,
  m_qos INTEGER,
  m_retain INTEGER,
  m_properties TEXT,
  m_expires_at INTEGER,
  m_origin TEXT,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  subscription_ids TEXT,
  packet_id INTEGER NOT NULL,
  state INTEGER NOT NULL,
  PRIMARY KEY (client_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS inbound_qos2 (
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL,
  PRIMARY KEY (client_id, packet_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS retained (
  topic TEXT PRIMARY KEY,
  payload BLOB NOT NULL,
  qos INTEGER NOT NULL,
  retain INTEGER NOT NULL,
  properties TEXT,
  expires_at INTEGER,
  origin TEXT
) WITHOUT ROWID;
`;

/** Delivery states as stored. */
export const STATE_CODE = { queued: 0, publish: 1, pubrel: 2 } as const;
export const STATE_NAME = ['queued', 'publish', 'pubrel'] as const;
