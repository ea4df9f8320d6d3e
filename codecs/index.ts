/**
 * codecs/: SenML JSON/CBOR parse, validate, resolve; the message envelope (msgpackr); the storage path's worker pool
 * (piscina); the strict-mode check. The bottom layer: imports nothing else of OMAP.
 */

export { type BatchResult, type BatchTask, processBatch, type RowTransport } from './batch.js';
export {
  type ContentClass,
  type ContentKind,
  classifyContentType,
  coapContentFormat,
  contentTypeFromCoAP,
  isSenMLContentType,
  normalizeContentType,
  OCTET_STREAM,
  SENML_CBOR,
  SENML_EXI,
  SENML_JSON,
  SENML_XML,
  SENSML_CBOR,
  SENSML_EXI,
  SENSML_JSON,
  SENSML_XML,
} from './content-type.js';
export {
  checkEnvelope,
  copyEnvelope,
  ENVELOPE_KEYS,
  type Envelope,
  EnvelopeBatchWriter,
  EnvelopeError,
  type PackedBatch,
  packEnvelope,
  packEnvelopeBatch,
  type UnpackEnvelopeOptions,
  unpackEnvelope,
  unpackEnvelopeBatch,
} from './envelope.js';
export {
  MessageBatchError,
  MessageBatchWriter,
  MessageSource,
  type PackedMessages,
  packMessages,
  unpackMessages,
} from './message-batch.js';
export { CodecPool, type CodecPoolOptions, type CodecPoolStats, type RowSink } from './pool.js';
export {
  BatchDecodeError,
  countRowBatch,
  decodeRowBatch,
  type EncodedRows,
  encodeRowBatch,
  joinRowBatches,
  type RowBatch,
} from './row-batch.js';
export {
  envelopeToRows,
  type InvalidMessage,
  type MessageRow,
  messageRow,
  type Row,
  type RowColumns,
  RowColumnsWriter,
  type RowLimits,
  readRowColumns,
  type SenMLRow,
  senmlRow,
} from './rows.js';
export {
  CBOR_LABELS,
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_RECORDS,
  decodeDataValue,
  encodeSenMLCbor,
  encodeSenMLJson,
  parseSenML,
  parseSenMLCbor,
  parseSenMLJson,
  RELATIVE_TIME_LIMIT,
  resolveSenML,
  SENML_VERSION,
  type SenMLOptions,
  type SenMLPackRecord,
  type SenMLRecord,
  validateSenML,
} from './senml.js';
export { isSenMLErrorCode, SenMLError, type SenMLErrorCode, type SenMLErrorData } from './senml-error.js';
export { checkStrict, type StrictResult } from './strict.js';
export {
  lowerThreadPriority,
  STORAGE_THREAD_NICENESS,
  STORAGE_THREAD_SCHED_IDLE,
  storageThreadPriority,
  type ThreadPriority,
} from './thread-priority.js';
export { type WorkerModule, workerModule } from './worker-module.js';
