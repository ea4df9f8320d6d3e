/**
 * The QuestDB tables of telemetry, created on first use through `/exec` before any row is sent (ILP would otherwise
 * auto-create them without DEDUP). All WAL tables partitioned by day; DEDUP UPSERT KEYS make every row unique, so
 * a re-sent batch (after a time-out, a retry or a replay) overwrites identical rows instead of duplicating them.
 * DEDUP keys must be fixed-size columns in QuestDB 8.x: timestamps, SYMBOLs and LONGs only.
 *
 * - SenML records: key (ts, channel, publisher, name, subtopic). Two records of one publisher with the same name
 *   and time on the same channel and subtopic are the same measurement (SenML), the later one wins.
 *   `value_kind` says which value field the record had (`v`, `vs`, `vb`, `vd`, or `s` for a sum only): a QuestDB
 *   BOOLEAN cannot be NULL, so `bool_value` alone cannot tell "false" from "absent".
 * - Whole messages (binary, E2E ciphertext): payload as base64 VARCHAR; key (ts, channel, publisher, subtopic,
 *   payload_crc) with ts the reception time (µs from the broker's ms) and the payload's CRC-32, so two different
 *   messages of one publisher in the same millisecond both stay.
 * - Dead letters (invalid SenML): the whole message plus the error; same key as whole messages.
 */

export interface QuestDBTables {
  senml: string;
  messages: string;
  deadLetter: string;
}

export const DEFAULT_QUESTDB_TABLES: QuestDBTables = {
  senml: 'omap_senml',
  messages: 'omap_messages',
  deadLetter: 'omap_dead_letter',
};

/** Table names are interpolated into SQL and ILP: only plain identifiers are accepted. */
export function checkTableNames(tables: QuestDBTables): QuestDBTables {
  for (const name of [tables.senml, tables.messages, tables.deadLetter]) {
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,126}$/.test(name)) throw new Error(`invalid QuestDB table name "${name}"`);
  }
  return tables;
}

export function schemaStatements(tables: QuestDBTables): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${tables.senml} (
  ts TIMESTAMP,
  channel SYMBOL CAPACITY 4096 CACHE,
  subtopic SYMBOL CAPACITY 4096 CACHE,
  publisher SYMBOL CAPACITY 65536 NOCACHE,
  protocol SYMBOL CAPACITY 16 CACHE,
  name SYMBOL CAPACITY 4096 CACHE,
  unit SYMBOL CAPACITY 256 CACHE,
  value_kind SYMBOL CAPACITY 8 CACHE,
  value DOUBLE,
  string_value VARCHAR,
  bool_value BOOLEAN,
  data_value VARCHAR,
  sum_value DOUBLE,
  update_time DOUBLE
) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, channel, publisher, name, subtopic)`,
    `CREATE TABLE IF NOT EXISTS ${tables.messages} (
  ts TIMESTAMP,
  channel SYMBOL CAPACITY 4096 CACHE,
  subtopic SYMBOL CAPACITY 4096 CACHE,
  publisher SYMBOL CAPACITY 65536 NOCACHE,
  protocol SYMBOL CAPACITY 16 CACHE,
  content_type SYMBOL CAPACITY 64 CACHE,
  payload VARCHAR,
  payload_crc LONG
) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, channel, publisher, subtopic, payload_crc)`,
    `CREATE TABLE IF NOT EXISTS ${tables.deadLetter} (
  ts TIMESTAMP,
  channel SYMBOL CAPACITY 4096 CACHE,
  subtopic SYMBOL CAPACITY 4096 CACHE,
  publisher SYMBOL CAPACITY 65536 NOCACHE,
  protocol SYMBOL CAPACITY 16 CACHE,
  content_type SYMBOL CAPACITY 64 CACHE,
  error_code SYMBOL CAPACITY 32 CACHE,
  payload VARCHAR,
  payload_crc LONG,
  error_message VARCHAR,
  error_index LONG,
  error_rule VARCHAR
) TIMESTAMP(ts) PARTITION BY DAY WAL DEDUP UPSERT KEYS(ts, channel, publisher, subtopic, payload_crc)`,
  ];
}
