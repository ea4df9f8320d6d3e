import { E2EError } from './errors.js';
import { RAW_KEY_LENGTH } from './keys.js';

/**
 * The E2E telemetry payload (content type application/vnd.omap.megolm.v1):
 *
 *   offset  size  field
 *   0       1     payload version 0x01
 *   1       32    session id (the Megolm session's Ed25519 public key, raw)
 *   33      n     Megolm message, version 3 (libolm layout, see megolm-message.ts)
 *
 * A Megolm message does not name its session; the prefix tells the consumer which key to use.
 */

export const PAYLOAD_VERSION = 0x01;
export const PAYLOAD_HEADER_LENGTH = 1 + RAW_KEY_LENGTH;

export function encodePayload(sessionId: Uint8Array, message: Uint8Array): Buffer {
  if (sessionId.length !== RAW_KEY_LENGTH)
    throw new E2EError('INVALID_ARGUMENT', 'session id must be 32 bytes');
  const out = Buffer.allocUnsafe(PAYLOAD_HEADER_LENGTH + message.length);
  out[0] = PAYLOAD_VERSION;
  out.set(sessionId, 1);
  out.set(message, PAYLOAD_HEADER_LENGTH);
  return out;
}

export interface ParsedPayload {
  readonly sessionId: Buffer;
  readonly message: Buffer;
}

export function parsePayload(input: Uint8Array): ParsedPayload {
  const bytes = Buffer.isBuffer(input)
    ? input
    : Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  if (bytes.length <= PAYLOAD_HEADER_LENGTH || bytes[0] !== PAYLOAD_VERSION) {
    throw new E2EError('BAD_PAYLOAD', `not an E2E payload version ${PAYLOAD_VERSION}`);
  }
  return {
    sessionId: bytes.subarray(1, PAYLOAD_HEADER_LENGTH),
    message: bytes.subarray(PAYLOAD_HEADER_LENGTH),
  };
}
