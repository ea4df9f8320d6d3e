/**
 * Worker-thread entry of the embedded history: owns the SQLite connection (see sqlite-history.ts) so that
 * transactions and history queries run off the broker's event loop. Spoken to by sqlite-worker-history.ts.
 */
import { type MessagePort, parentPort, workerData } from 'node:worker_threads';
import { lowerThreadPriority, type ThreadPriority } from '../../codecs/thread-priority.js';
import { decodeBatch } from './batch-codec.js';
import type { MessageQuery } from './query.js';
import { type RetentionOptions, SqliteHistory } from './sqlite-history.js';
import type { TelemetryLogger } from './types.js';

export interface SqliteWorkerData {
  path: string;
  retention: RetentionOptions | undefined;
  synchronous: 'NORMAL' | 'FULL' | undefined;
  /** Scheduling priority below the broker's I/O thread (thread-priority.ts). */
  priority: ThreadPriority;
}

export type SqliteWorkerRequest =
  | { id: number; op: 'write'; data: Uint8Array }
  | { id: number; op: 'readSenML' | 'readPayloads' | 'aggregate'; channel: string; query: MessageQuery }
  | { id: number; op: 'retention' | 'counts' | 'close' };

export type SqliteWorkerReply =
  | { type: 'reply'; id: number; ok: true; value: unknown }
  | { type: 'reply'; id: number; ok: false; error: { name: string; message: string; code?: string } }
  | { type: 'log'; level: keyof TelemetryLogger; obj: object; msg: string | undefined };

function ownPort(): MessagePort {
  if (parentPort === null) throw new Error('sqlite-worker.ts runs as a worker thread');
  return parentPort;
}

const port = ownPort();

const send = (message: SqliteWorkerReply): void => port.postMessage(message);
const logger: TelemetryLogger = {
  debug: (obj, msg) => send({ type: 'log', level: 'debug', obj, msg }),
  info: (obj, msg) => send({ type: 'log', level: 'info', obj, msg }),
  warn: (obj, msg) => send({ type: 'log', level: 'warn', obj, msg }),
  error: (obj, msg) => send({ type: 'log', level: 'error', obj, msg }),
};
const data = workerData as SqliteWorkerData;
lowerThreadPriority(data.priority);
const history = new SqliteHistory({ ...data, logger });

async function handle(request: SqliteWorkerRequest): Promise<unknown> {
  switch (request.op) {
    case 'write':
      return history.write(decodeBatch(request.data));
    case 'readSenML':
      return history.readSenML(request.channel, request.query);
    case 'readPayloads':
      return history.readPayloads(request.channel, request.query);
    case 'aggregate':
      return history.aggregate(request.channel, request.query);
    case 'retention':
      return history.enforceRetention();
    case 'counts':
      return history.counts();
    case 'close':
      await history.close();
      port.close();
      return undefined;
  }
}

port.on('message', (request: SqliteWorkerRequest) => {
  handle(request).then(
    (value) => send({ type: 'reply', id: request.id, ok: true, value }),
    (error: unknown) => {
      const e = error instanceof Error ? error : new Error(String(error));
      const code = (e as { code?: unknown }).code;
      send({
        type: 'reply',
        id: request.id,
        ok: false,
        error: { name: e.name, message: e.message, ...(typeof code === 'string' ? { code } : {}) },
      });
    },
  );
});
