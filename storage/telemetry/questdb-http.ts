/**
 * QuestDB's SQL over HTTP (`GET /exec?query=…`): table creation and history reads. Same address, TLS settings and
 * credentials as the ILP writer (from the configuration string). Answers are JSON:
 * `{query, columns: [{name, type}], timestamp, dataset: [[…]], count}` or, on error, `{query, error, position}`.
 */

import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import type { QuestDBConfig } from './questdb-config.js';

export interface ExecResult {
  columns: { name: string; type: string }[];
  dataset: unknown[][];
  count?: number;
  ddl?: string;
}

/** QuestDB answered the query with an error (HTTP 4xx/5xx), e.g. a syntax error or a missing table. */
export class QuestDBQueryError extends Error {
  override readonly name = 'QuestDBQueryError';
  readonly status: number;

  constructor(message: string, status: number) {
    super(message);
    this.status = status;
  }
}

const MAX_RESPONSE_BYTES = 64 * 1024 * 1024;

export class QuestDBHttp {
  readonly #config: QuestDBConfig;
  readonly #agent: http.Agent;
  readonly #ca: Buffer | undefined;
  readonly #timeoutMs: number;

  constructor(config: QuestDBConfig, timeoutMs = 10_000) {
    this.#config = config;
    this.#timeoutMs = timeoutMs;
    this.#agent =
      config.protocol === 'https'
        ? new https.Agent({ keepAlive: true })
        : new http.Agent({ keepAlive: true });
    this.#ca = config.tlsCa === undefined ? undefined : readFileSync(config.tlsCa);
  }

  /** Runs one SQL statement. @throws {QuestDBQueryError} when QuestDB refuses it; network errors as they come. */
  exec(sql: string): Promise<ExecResult> {
    const config = this.#config;
    const headers: Record<string, string> = { accept: 'application/json' };
    if (config.token !== undefined) headers.authorization = `Bearer ${config.token}`;
    else if (config.username !== undefined && config.password !== undefined) {
      headers.authorization = `Basic ${Buffer.from(`${config.username}:${config.password}`).toString('base64')}`;
    }
    const request = config.protocol === 'https' ? https.request : http.request;
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: config.host,
          port: config.port,
          method: 'GET',
          path: `/exec?${new URLSearchParams({ query: sql }).toString()}`,
          headers,
          agent: this.#agent,
          ca: this.#ca,
          rejectUnauthorized: config.tlsVerify,
          timeout: this.#timeoutMs,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > MAX_RESPONSE_BYTES) req.destroy(new Error('QuestDB /exec answer too large'));
            else chunks.push(chunk);
          });
          res.on('error', reject);
          res.on('end', () => {
            const text = Buffer.concat(chunks).toString('utf8');
            let body: unknown;
            try {
              body = JSON.parse(text);
            } catch {
              body = null;
            }
            const status = res.statusCode ?? 0;
            if (status === 200 && body !== null && typeof body === 'object') {
              const result = body as Partial<ExecResult>;
              resolve({
                columns: Array.isArray(result.columns) ? result.columns : [],
                dataset: Array.isArray(result.dataset) ? result.dataset : [],
                ...(typeof result.count === 'number' ? { count: result.count } : {}),
                ...(typeof result.ddl === 'string' ? { ddl: result.ddl } : {}),
              });
              return;
            }
            const message =
              body !== null &&
              typeof body === 'object' &&
              typeof (body as { error?: unknown }).error === 'string'
                ? (body as { error: string }).error
                : text.slice(0, 200) || `HTTP ${status}`;
            reject(new QuestDBQueryError(message, status));
          });
        },
      );
      req.on('timeout', () => req.destroy(new Error(`QuestDB /exec timed out after ${this.#timeoutMs} ms`)));
      req.on('error', reject);
      req.end();
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}

/** Maps an /exec dataset to objects keyed by column name. */
export function rowsOf(result: ExecResult): Record<string, unknown>[] {
  const names = result.columns.map((c) => c.name);
  return result.dataset.map((values) => {
    const row: Record<string, unknown> = {};
    for (let i = 0; i < names.length; i++) row[names[i]!] = values[i];
    return row;
  });
}
