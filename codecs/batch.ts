/**
 * The work of one pool task: a packed batch of messages in, SenML rows + whole-message rows + invalid entries out.
 * Pure and synchronous (the worker wraps it; the benchmark and tests also call it on the main thread).
 */

import { classifyContentType } from './content-type.js';
import { copyEnvelope, type Envelope } from './envelope.js';
import { type PackedMessages, unpackMessages } from './message-batch.js';
import { type EncodedRows, encodeRowColumns } from './row-batch.js';
import {
  type InvalidMessage,
  type MessageRow,
  messageRow,
  type RowColumns,
  RowColumnsWriter,
  type SenMLRow,
  senmlRow,
} from './rows.js';
import { parseSenMLClassified, parseSenMLInto } from './senml.js';
import { SenMLError, type SenMLErrorData } from './senml-error.js';

/**
 * How rows travel back: SenML rows in column form in one transferred buffer, or structured-cloned row objects; or
 * 'encoded': everything (SenML rows, whole messages, invalid ones) in the row batch byte form of row-batch.ts, in
 * one transferred buffer, so the main thread forwards bytes and builds no objects.
 */
export type RowTransport = 'columns' | 'objects' | 'encoded';

/** The packed messages (buffer transferred to the worker) and what to do with them. */
export interface BatchTask extends PackedMessages {
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
  /** Everything, when `transport` is 'encoded' (then `messageRows` and `invalid` are empty). */
  encoded: EncodedRows | null;
  /** Buffers the caller may reuse (the worker hands back the batch buffer and an unused spare). */
  recycled: ArrayBuffer[];
}

/** Reused between batches (tasks run one at a time per thread): keeps its scratch arrays and string table warm. */
const columnsWriter = new RowColumnsWriter(4096);

export function processBatch(task: BatchTask): BatchResult {
  const envelopes = unpackMessages(task);
  if (task.transport === 'encoded') return processEncoded(task, envelopes);
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
    encoded: null,
    recycled: [],
  };
}

/**
 * The 'encoded' transport: SenML rows through the column writer (as 'columns'), then the columns, whole messages
 * and invalid ones packed as one row batch: no object per SenML row.
 */
function processEncoded(task: BatchTask, envelopes: Envelope[]): BatchResult {
  const writer = columnsWriter;
  const messages: MessageRow[] = [];
  const invalid: InvalidMessage[] = [];
  const options = { now: 0, maxBytes: task.maxBytes, maxRecords: task.maxRecords };
  for (const envelope of envelopes) {
    const cls = classifyContentType(envelope.contentType);
    if (cls.kind !== 'senml-json' && cls.kind !== 'senml-cbor') {
      messages.push(messageRow(envelope)); // the payload view is copied by the encoder
      continue;
    }
    options.now = envelope.created / 1000;
    try {
      writer.begin(envelope);
      writer.end(parseSenMLInto(envelope.payload, cls, options, writer));
    } catch (error) {
      writer.abort();
      const senml =
        error instanceof SenMLError
          ? error
          : new SenMLError('internal', `codec failure: ${String(error)}`, -1, 'codec: internal error');
      invalid.push({ envelope, error: senml });
    }
  }
  const columns = writer.finish(null);
  // The encoder's output may be a view into its shared scratch: copy into an own, exactly sized buffer to transfer.
  const bytes = new Uint8Array(encodeRowColumns(columns, messages, invalid));
  return {
    messages: envelopes.length,
    columns: null,
    rows: null,
    messageRows: [],
    invalid: [],
    encoded: { bytes, rows: columns.count + messages.length, invalid: invalid.length },
    recycled: [],
  };
}
