/** The payload types the HTTP and WebSocket entry points accept (anything else: 415). */
export const SENML_JSON = 'application/senml+json';
export const SENML_CBOR = 'application/senml+cbor';
export const OCTET_STREAM = 'application/octet-stream';
/** Megolm ciphertext of the end-to-end encryption layer (e2e/): forwarded, never inspected. */
export const MEGOLM = 'application/vnd.omap.megolm.v1';

export const ACCEPTED_CONTENT_TYPES: readonly string[] = [SENML_JSON, SENML_CBOR, OCTET_STREAM, MEGOLM];
const accepted = new Set(ACCEPTED_CONTENT_TYPES);

/**
 * The canonical media type of a Content-Type value (parameters such as `; charset=utf-8` dropped,
 * case folded), or null when it is not one we accept.
 */
export function acceptedContentType(value: string): string | null {
  if (accepted.has(value)) return value;
  const semicolon = value.indexOf(';');
  const type = (semicolon < 0 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  return accepted.has(type) ? type : null;
}
