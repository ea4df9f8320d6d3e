/**
 * The logging surface the broker needs; a pino logger satisfies it. The library is silent unless the
 * embedding application passes a logger; `omap serve` passes pino.
 */
export interface LogFn {
  (obj: object, msg?: string): void;
  (msg: string): void;
}

export interface Logger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

const noop = (): void => {};
export const silentLogger: Logger = { debug: noop, info: noop, warn: noop, error: noop };
