import { E2EError } from './errors.js';

/**
 * Unpadded standard base64 (RFC 4648 §4 alphabet, no `=`), the Matrix/libolm convention for Megolm
 * messages, session keys and session ids.
 */

const UNPADDED_BASE64 = /^[A-Za-z0-9+/]*$/;

/** Encodes bytes as unpadded standard base64. */
export function encodeBase64(bytes: Uint8Array): string {
  const padded = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
  const end = padded.indexOf('=');
  return end === -1 ? padded : padded.slice(0, end);
}

/**
 * Decodes unpadded standard base64 strictly.
 *
 * Node's decoder silently skips characters outside the alphabet and ignores non-zero trailing bits;
 * both would give one key several spellings, so anything that does not re-encode to the exact input
 * is refused.
 */
export function decodeBase64(text: string): Buffer {
  if (!UNPADDED_BASE64.test(text) || text.length % 4 === 1) {
    throw new E2EError('BAD_BASE64', 'expected unpadded standard base64');
  }
  const bytes = Buffer.from(text, 'base64');
  if (encodeBase64(bytes) !== text) {
    throw new E2EError('BAD_BASE64', 'non-canonical base64 (non-zero trailing bits)');
  }
  return bytes;
}

/** Encodes bytes as unpadded base64url (RFC 4648 §5), safe inside an MQTT topic level. */
export function encodeBase64Url(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url');
}
