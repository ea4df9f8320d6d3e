/**
 * The work of one pool task: a packed batch of envelopes in, SenML rows + invalid entries out. Pure and synchronous
 * (the worker wraps it; the benchmark and tests also call it on the main thread).
 */

import { classifyContentType } from './content-type.js';
import { copyEnvelope, type Envelope, unpackEnvelopeBatch } from './envelope.js';
import {
  type MessageRow,
  messageRow,
  type RowColumns,
  RowColumnsWriter,
  type SenMLRow,
  senmlRow,
} from './rows.js';
import { parseSenMLClassified, parseSenMLInto } from './senml.js';
import { SenMLError, type SenMLErrorData } from './senml-error.js';

/** How SenML rows travel back: column form in one transferred buffer, or structured-cloned row objects. */
export type RowTransport = 'columns' | 'objects';

export interface BatchTask {
  /** The packed batch (transferred to the worker). */
  buffer: ArrayBuffer;
  byteLength: number;
  transport: RowTransport;
  maxBytes: number;
  maxRecords: number;
  /** A buffer to write the row columns into (recycled by the caller), or null. */
  spare: ArrayBuffer | null;
}

export interface InvalidEntryData {
  envelope: Envelope;
  error: SenMLErrorData;
}

export interface BatchResult {
  /** Envelopes decoded from the batch. */
  messages: number;
  /** SenML rows, when `transport` is 'columns'. */
  columns: RowColumns | null;
  /** SenML rows, when `transport` is 'objects'. */
  rows: SenMLRow[] | null;
  /** Whole-message rows for envelopes that are not SenML JSON/CBOR (the pool never sends those; payloads copied). */
  messageRows: MessageRow[];
  /** Invalid SenML messages (payloads copied into their own buffers). */
  invalid: InvalidEntryData[];
  /** Buffers the caller may reuse (the worker hands back the batch buffer and an unused spare). */
  recycled: ArrayBuffer[];
}

/** Reused between batches (tasks run one at a time per thread): keeps its scratch arrays and string table warm. */
const columnsWriter = new RowColumnsWriter(4096);

export function processBatch(task: BatchTask): BatchResult {
  const envelopes = unpackEnvelopeBatch(task.buffer, task.byteLength);
  const writer = task.transport === 'columns' ? columnsWriter : null;
  const rows: SenMLRow[] | null = writer === null ? [] : null;
  const messageRows: MessageRow[] = [];
  const invalid: InvalidEntryData[] = [];
  const options = { now: 0, maxBytes: task.maxBytes, maxRecords: task.maxRecords };
  for (const envelope of envelopes) {
    const cls = classifyContentType(envelope.contentType);
    if (cls.kind !== 'senml-json' && cls.kind !== 'senml-cbor') {
      messageRows.push(messageRow(copyEnvelope(envelope)));
      continue;
    }
    options.now = envelope.created / 1000;
    try {
      if (writer !== null) {
        writer.begin(envelope);
        writer.end(parseSenMLInto(envelope.payload, cls, options, writer));
      } else if (rows !== null) {
        for (const record of parseSenMLClassified(envelope.payload, cls, options))
          rows.push(senmlRow(envelope, record));
      }
    } catch (error) {
      writer?.abort();
      const senml =
        error instanceof SenMLError
          ? error
          : new SenMLError('internal', `codec failure: ${String(error)}`, -1, 'codec: internal error');
      invalid.push({ envelope: copyEnvelope(envelope), error: senml.toJSON() });
    }
  }
  return {
    messages: envelopes.length,
    columns: writer === null ? null : writer.finish(task.spare),
    rows,
    messageRows,
    invalid,
    recycled: [],
  };
}
