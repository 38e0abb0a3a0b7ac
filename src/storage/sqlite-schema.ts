/**
 * The SQLite schema of the store: version 2. A delivery names its message by `message_id` (a row of
 * `messages`, shared by every session the message went to) or carries it inline (`m_*` columns) when it was
 * the message's first delivery: one row to write and delete for the common case of one subscriber.
 *
 * Deliveries and inbound QoS 2 ids are keyed by an increasing integer alone (the rowid), not by client id:
 * new rows go at the end of the table, so a commit touches a few pages instead of one per session (half
 * the cost per row at a few thousand rows in flight). The store keeps each session's keys in memory, and
 * reading orders rows by session. Version 1 keyed them by (client_id, seq) and is migrated on open.
 *
 * Version 3 adds the change log (`log`): each commit is one row of it, applied to the tables later and
 * replayed at open (`sqlite-window.ts`). A version 2 broker would not read the log, so it must not open a
 * version 3 file.
 */
export const SCHEMA_VERSION = 3;

const DELIVERIES_AND_INBOUND = `
CREATE TABLE IF NOT EXISTS deliveries (
  seq INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
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
  state INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS inbound_qos2 (
  id INTEGER PRIMARY KEY,
  client_id TEXT NOT NULL,
  packet_id INTEGER NOT NULL
);`;

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
${DELIVERIES_AND_INBOUND}
CREATE TABLE IF NOT EXISTS log (
  id INTEGER PRIMARY KEY,
  ops BLOB NOT NULL
);
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

const DELIVERY_COLUMNS = [
  'seq',
  'client_id',
  'message_id',
  'm_topic',
  'm_payload',
  'm_qos',
  'm_retain',
  'm_properties',
  'm_expires_at',
  'm_origin',
  'qos',
  'retain',
  'subscription_ids',
  'packet_id',
  'state',
];

/** What a migration needs of the database: run SQL, and list a table's columns. */
export interface MigrationDb {
  exec(sql: string): void;
  columns(table: string): string[];
}

/** From version N to N + 1: run in the opening transaction, before the version is updated. */
export const MIGRATIONS: Readonly<Record<number, (db: MigrationDb) => void>> = {
  1: (db) => {
    // Early version 1 files have no inline message columns (m_*): copy the columns that are there.
    const old = new Set(db.columns('deliveries'));
    const copied = DELIVERY_COLUMNS.filter((c) => old.has(c)).join(', ');
    db.exec(`
ALTER TABLE deliveries RENAME TO deliveries_v1;
ALTER TABLE inbound_qos2 RENAME TO inbound_qos2_v1;
${DELIVERIES_AND_INBOUND}
INSERT INTO deliveries (${copied}) SELECT ${copied} FROM deliveries_v1 ORDER BY seq;
INSERT INTO inbound_qos2 (client_id, packet_id) SELECT client_id, packet_id FROM inbound_qos2_v1;
DROP TABLE deliveries_v1;
DROP TABLE inbound_qos2_v1;
`);
  },
  // The log table is made by SCHEMA (CREATE TABLE IF NOT EXISTS), before migrations run.
  2: () => {},
};
