/**
 * Piscina worker entry: resolves one packed batch (see batch.ts). The column buffer of the result is moved (not
 * copied) back to the main thread, and so are the buffers the main thread can reuse.
 */
import { move, transferableSymbol, valueSymbol, workerData } from 'piscina';
import { type BatchTask, processBatch } from './batch.js';
import { lowerThreadPriority, type ThreadPriority } from './thread-priority.js';

lowerThreadPriority((workerData as { priority?: ThreadPriority } | undefined)?.priority);

export default function resolveBatch(task: BatchTask): ReturnType<typeof move> {
  const result = processBatch(task);
  // Nothing in the result refers to the batch buffer any more (payloads of invalid and whole messages are copied):
  // hand it back for reuse, with the spare column buffer if it went unused, instead of letting both be collected.
  const transfer: ArrayBuffer[] = [task.buffer];
  result.recycled.push(task.buffer);
  if (result.columns !== null) transfer.push(result.columns.buffer);
  if (result.encoded !== null) transfer.push(result.encoded.bytes.buffer as ArrayBuffer);
  if (task.spare !== null && task.spare !== result.columns?.buffer) {
    result.recycled.push(task.spare);
    transfer.push(task.spare);
  }
  return move({ [transferableSymbol]: transfer, [valueSymbol]: result });
}
