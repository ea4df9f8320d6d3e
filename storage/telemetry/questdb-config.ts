/**
 * The QuestDB configuration string (`OMAP_QUESTDB`, the client's own format: `http::addr=host:9000;key=value;...`)
 * and the settings the writer imposes on it. Parsing is the client's (`SenderOptions`); on top of it:
 *
 * - `tcp::`/`tcps::` are refused: ILP over TCP has no acknowledgement and loses rows whose flush "succeeded".
 * - `auto_flush` is forced off: the pipeline decides batches and flushes (the client's interval has no timer).
 * - `stdlib_http` is forced on: Node's http transport fails fast when the server is unreachable, and its requests
 *   can be cancelled by destroying our own Agent (the Undici default never settles on a refused connection and
 *   cannot be cancelled from outside).
 * - `protocol_version` defaults to `1` when not given: `auto` crashes against QuestDB < 9.0, `1` works everywhere.
 *   Set `protocol_version=2` (binary doubles) for QuestDB ≥ 9.0, or `auto` explicitly.
 * - `retry_timeout` defaults to `0` when not given: the client sends once and the pipeline retries (with backoff,
 *   jitter, metrics, and the spool), so no hidden retry loop outlives an abandoned request.
 * - `request_timeout` keeps the client default (10 s) unless given; keep the pipeline's `flushTimeoutMs` above it.
 */
import { SenderOptions } from '@questdb/nodejs-client';

export interface QuestDBConfig {
  /** The string as given (contains credentials: log {@link redactQuestDBConfig} instead). */
  readonly source: string;
  readonly protocol: 'http' | 'https';
  readonly host: string;
  readonly port: number;
  readonly username: string | undefined;
  readonly password: string | undefined;
  readonly token: string | undefined;
  readonly tlsVerify: boolean;
  readonly tlsCa: string | undefined;
  readonly requestTimeoutMs: number;
  /** Keys present in the string (so our defaults never override an explicit choice). */
  readonly explicitKeys: ReadonlySet<string>;
}

export class QuestDBConfigError extends Error {
  override readonly name = 'QuestDBConfigError';
}

/** Keys written in the string, e.g. `protocol_version` (`;;` is the client's escape for a literal `;`). */
function keysOf(source: string): Set<string> {
  const start = source.indexOf('::');
  const keys = new Set<string>();
  if (start < 0) return keys;
  for (const setting of source
    .slice(start + 2)
    .replaceAll(';;', '\u0000')
    .split(';')) {
    const eq = setting.indexOf('=');
    if (eq > 0) keys.add(setting.slice(0, eq).trim());
  }
  return keys;
}

/**
 * Parses and checks a configuration string.
 * @throws {QuestDBConfigError} for an invalid string or a TCP transport.
 */
export function parseQuestDBConfig(source: string): QuestDBConfig {
  let options: SenderOptions;
  try {
    options = new SenderOptions(source);
  } catch (error) {
    throw new QuestDBConfigError(`invalid QuestDB configuration: ${(error as Error).message}`);
  }
  if (options.protocol !== 'http' && options.protocol !== 'https') {
    throw new QuestDBConfigError(
      `QuestDB over ${options.protocol} is not supported: ILP over TCP has no acknowledgement (rows can be lost); use http:: or https::`,
    );
  }
  const tlsCa = options.tls_ca;
  return {
    source,
    protocol: options.protocol,
    host: options.host!,
    port: options.port!,
    username: options.username,
    password: options.password,
    token: options.token,
    tlsVerify: options.tls_verify !== false,
    tlsCa: typeof tlsCa === 'string' ? tlsCa : undefined,
    requestTimeoutMs: options.request_timeout ?? 10_000,
    explicitKeys: keysOf(source),
  };
}

/** Client options for one transport generation, with the writer's rules applied (see the file comment). */
export function senderOptionsFor(config: QuestDBConfig): SenderOptions {
  const options = new SenderOptions(config.source);
  options.auto_flush = false;
  options.stdlib_http = true;
  if (!config.explicitKeys.has('protocol_version')) options.protocol_version = '1';
  if (!config.explicitKeys.has('retry_timeout')) options.retry_timeout = 0;
  return options;
}

/** The string with `password` and `token` values hidden, for logs. */
export function redactQuestDBConfig(source: string): string {
  return source.replace(/((?:^|;|::)(?:password|token)=)((?:[^;]|;;)*)/g, '$1***');
}
