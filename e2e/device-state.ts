import { createHash } from 'node:crypto';
import { E2EError } from './errors.js';
import { recipientKeyIdBytes } from './key-share.js';
import { OUTBOUND_STATE_LENGTH } from './outbound-state.js';

/**
 * What E2EDevice saves in its StateStore, version 0x01 (210 bytes):
 *
 *   offset  size  field
 *   0       1     0x01
 *   1       32    recipients digest: SHA-256 of the sorted 16-byte recipient key ids
 *   33      177   outbound session state (outbound-state.ts)
 *
 * The digest lets a restarted device tell whether its recipient list changed while it was down: a
 * consumer removed in between still holds the saved session's key, so that session must not resume.
 */

export const DEVICE_STATE_VERSION = 0x01;
const DIGEST_LENGTH = 32;
export const DEVICE_STATE_LENGTH = 1 + DIGEST_LENGTH + OUTBOUND_STATE_LENGTH;

/** Order-independent digest of a recipient list. */
export function recipientsDigest(publicKeys: Iterable<Uint8Array>): Buffer {
  const ids = [...publicKeys].map((key) => recipientKeyIdBytes(key)).sort(Buffer.compare);
  const hash = createHash('sha256');
  for (const id of ids) hash.update(id);
  return hash.digest();
}

export function encodeDeviceState(digest: Uint8Array, outboundState: Uint8Array): Buffer {
  if (digest.length !== DIGEST_LENGTH || outboundState.length !== OUTBOUND_STATE_LENGTH) {
    throw new E2EError('INVALID_ARGUMENT', 'device state parts have the wrong length');
  }
  return Buffer.concat([Buffer.from([DEVICE_STATE_VERSION]), digest, outboundState]);
}

export function decodeDeviceState(bytes: Uint8Array): { digest: Buffer; outboundState: Buffer } {
  if (bytes.length !== DEVICE_STATE_LENGTH || bytes[0] !== DEVICE_STATE_VERSION) {
    throw new E2EError('BAD_SESSION_KEY', `not a device state (v1, ${DEVICE_STATE_LENGTH} bytes)`);
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return {
    digest: Buffer.from(view.subarray(1, 1 + DIGEST_LENGTH)),
    outboundState: Buffer.from(view.subarray(1 + DIGEST_LENGTH)),
  };
}
