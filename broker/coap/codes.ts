/**
 * CoAP message types, codes and option numbers (RFC 7252 §3, §5.10, §12; RFC 7641; RFC 7959; RFC 8516;
 * RFC 9175), as plain numbers: a code is `class << 5 | detail` exactly as it sits on the wire.
 */

export const MessageType = { CON: 0, NON: 1, ACK: 2, RST: 3 } as const;
export type MessageType = (typeof MessageType)[keyof typeof MessageType];

/** `c.dd` as the byte on the wire. */
export function code(cls: number, detail: number): number {
  return (cls << 5) | detail;
}

/** `2.05` style, for logs and diagnostics. */
export function codeToString(value: number): string {
  const detail = value & 0x1f;
  return `${value >> 5}.${detail < 10 ? '0' : ''}${detail}`;
}

export const Code = {
  Empty: 0,
  GET: 1,
  POST: 2,
  PUT: 3,
  DELETE: 4,
  FETCH: 5,
  PATCH: 6,
  IPATCH: 7,
  Changed: code(2, 4),
  Content: code(2, 5),
  Continue: code(2, 31),
  BadRequest: code(4, 0),
  Unauthorized: code(4, 1),
  BadOption: code(4, 2),
  Forbidden: code(4, 3),
  NotFound: code(4, 4),
  MethodNotAllowed: code(4, 5),
  RequestEntityIncomplete: code(4, 8),
  RequestEntityTooLarge: code(4, 13),
  UnsupportedContentFormat: code(4, 15),
  TooManyRequests: code(4, 29),
  InternalServerError: code(5, 0),
  ServiceUnavailable: code(5, 3),
  ProxyingNotSupported: code(5, 5),
} as const;

export function isRequestCode(value: number): boolean {
  return value >= 1 && value <= 31;
}

export const OptionNumber = {
  IfMatch: 1,
  UriHost: 3,
  ETag: 4,
  IfNoneMatch: 5,
  Observe: 6,
  UriPort: 7,
  UriPath: 11,
  ContentFormat: 12,
  MaxAge: 14,
  UriQuery: 15,
  Accept: 17,
  Block2: 23,
  Block1: 27,
  Size2: 28,
  ProxyUri: 35,
  ProxyScheme: 39,
  Size1: 60,
  NoResponse: 258,
  RequestTag: 292,
} as const;

/** RFC 7252 §5.4.6: odd option numbers are critical, even ones elective. */
export function isCritical(option: number): boolean {
  return (option & 1) === 1;
}

/**
 * The critical options this server understands. Any other critical option in a request makes it a
 * 4.02 Bad Option (CON) or a rejected message (NON), as RFC 7252 §5.4.1 requires. If-Match and
 * If-None-Match are not among them: conditional requests make no sense for a message stream.
 */
export const KNOWN_CRITICAL_OPTIONS: ReadonlySet<number> = new Set([
  OptionNumber.UriHost,
  OptionNumber.UriPort,
  OptionNumber.UriPath,
  OptionNumber.UriQuery,
  OptionNumber.Accept,
  OptionNumber.Block2,
  OptionNumber.Block1,
  OptionNumber.ProxyUri,
  OptionNumber.ProxyScheme,
]);
