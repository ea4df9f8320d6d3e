/**
 * CoAP Content-Format numbers (RFC 7252 §12.3, RFC 8428 §12.3) and the media types the broker carries
 * in `MessageProperties.contentType`.
 */

export const ContentFormat = {
  TextPlain: 0,
  OctetStream: 42,
  Json: 50,
  Cbor: 60,
  SenmlJson: 110,
  SenmlCbor: 112,
} as const;

const MEDIA_TYPES: ReadonlyMap<number, string> = new Map([
  [ContentFormat.TextPlain, 'text/plain;charset=utf-8'],
  [ContentFormat.OctetStream, 'application/octet-stream'],
  [ContentFormat.Json, 'application/json'],
  [ContentFormat.Cbor, 'application/cbor'],
  [ContentFormat.SenmlJson, 'application/senml+json'],
  [ContentFormat.SenmlCbor, 'application/senml+cbor'],
]);

const FORMATS: ReadonlyMap<string, number> = new Map([
  ...[...MEDIA_TYPES].map(([format, type]) => [type, format] as const),
  ['text/plain', ContentFormat.TextPlain],
]);

/** What a device may publish over CoAP. */
export const PUBLISHABLE_FORMATS: ReadonlySet<number> = new Set([
  ContentFormat.SenmlJson,
  ContentFormat.SenmlCbor,
  ContentFormat.OctetStream,
]);

export function mediaTypeOf(format: number): string | undefined {
  return MEDIA_TYPES.get(format);
}

/**
 * The Content-Format of a routed message: its content type when it names a known format (parameters
 * and case ignored), otherwise 42 (application/octet-stream).
 */
export function contentFormatOf(contentType: string | undefined): number {
  if (contentType === undefined) return ContentFormat.OctetStream;
  const exact = FORMATS.get(contentType);
  if (exact !== undefined) return exact;
  const semicolon = contentType.indexOf(';');
  const bare = (semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase();
  return FORMATS.get(bare) ?? ContentFormat.OctetStream;
}
