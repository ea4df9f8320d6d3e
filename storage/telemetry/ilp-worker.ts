/**
 * Piscina worker entry of the QuestDB writer: a batch in its byte form (batch-codec.ts) in, its ILP lines out.
 * Decoding the rows and writing the lines cost ~2 µs per row: here they run off the broker's event loop, on a
 * thread below its priority (thread-priority.ts). The result's buffer is moved, not copied, back.
 */
import type { SenderOptions } from '@questdb/nodejs-client';
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { lowerThreadPriority, type ThreadPriority } from '../../codecs/thread-priority.js';
import { decodeBatch } from './batch-codec.js';
import { ilpWriterFor, writeBatchLines } from './ilp-encoder.js';
import { parseQuestDBConfig, senderOptionsFor } from './questdb-config.js';
import type { QuestDBTables } from './questdb-schema.js';

export interface IlpTask {
  /** The batch in bytes (transferred). */
  data: Uint8Array;
  /** The configuration string (gives the protocol version and the buffer settings). */
  config: string;
  /** The resolved protocol version ('1' or '2'; 'auto' is resolved on the main thread first). */
  protocolVersion: string;
  tables: QuestDBTables;
}

/** What comes back: the lines (null for an empty batch), or the message of an error in the data. */
export type IlpResult = { lines: Uint8Array | null; error: null } | { lines: null; error: string };

lowerThreadPriority((workerData as { priority?: ThreadPriority } | undefined)?.priority);

/** The writer's options, parsed once per configuration (one writer per thread in practice). */
let cached: { key: string; options: SenderOptions } | null = null;
function optionsFor(task: IlpTask): SenderOptions {
  const key = `${task.protocolVersion}\n${task.config}`;
  if (cached?.key !== key) {
    const options = senderOptionsFor(parseQuestDBConfig(task.config));
    options.protocol_version = task.protocolVersion;
    cached = { key, options };
  }
  return cached.options;
}

export default function encodeIlp(task: IlpTask): IlpResult | ReturnType<typeof move> {
  let lines: Buffer | null;
  try {
    const batch = decodeBatch(task.data);
    const w = ilpWriterFor(optionsFor(task));
    writeBatchLines(w, batch, task.tables);
    lines = w.finish();
  } catch (error) {
    return { lines: null, error: error instanceof Error ? error.message : String(error) };
  }
  if (lines === null) return { lines: null, error: null };
  // An exact copy in its own buffer: the writers' buffers are pooled or larger than the lines.
  const own = new Uint8Array(lines);
  return move({ [transferableSymbol]: [own.buffer], [valueSymbol]: { lines: own, error: null } });
}
