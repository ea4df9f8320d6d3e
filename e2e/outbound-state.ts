import { E2EError } from './errors.js';
import { RAW_KEY_LENGTH } from './keys.js';
import { MAX_MESSAGE_INDEX, RATCHET_LENGTH } from './ratchet.js';

/**
 * The saved state of an outbound Megolm session (what the persistence hook receives), 177 bytes:
 *
 *   offset  size  field
 *   0       1     format version 0x01
 *   1       4     u32 BE next index: the first index the restored session may use
 *   5       128   ratchet R0‖R1‖R2‖R3 at that index
 *   133     32    Ed25519 seed of the session signing key
 *   165     8     u64 BE creation time, ms since the Unix epoch (for time-based rotation)
 *   173     4     u32 BE first index: the index the session started at (for count-based rotation)
 *
 * It holds secrets in the clear: store it where only the device can read it.
 */

export const OUTBOUND_STATE_VERSION = 0x01;
export const OUTBOUND_STATE_LENGTH = 1 + 4 + RATCHET_LENGTH + RAW_KEY_LENGTH + 8 + 4;

export interface OutboundState {
  readonly nextIndex: number;
  readonly ratchet: Uint8Array;
  readonly signingSeed: Uint8Array;
  readonly createdAt: number;
  readonly firstIndex: number;
}

export function encodeOutboundState(state: OutboundState): Buffer {
  const out = Buffer.alloc(OUTBOUND_STATE_LENGTH);
  out[0] = OUTBOUND_STATE_VERSION;
  out.writeUInt32BE(state.nextIndex, 1);
  out.set(state.ratchet, 5);
  out.set(state.signingSeed, 5 + RATCHET_LENGTH);
  out.writeBigUInt64BE(BigInt(state.createdAt), 5 + RATCHET_LENGTH + RAW_KEY_LENGTH);
  out.writeUInt32BE(state.firstIndex, OUTBOUND_STATE_LENGTH - 4);
  return out;
}

export function decodeOutboundState(bytes: Uint8Array): OutboundState {
  if (bytes.length !== OUTBOUND_STATE_LENGTH || bytes[0] !== OUTBOUND_STATE_VERSION) {
    throw new E2EError(
      'BAD_SESSION_KEY',
      `not an outbound session state (v1, ${OUTBOUND_STATE_LENGTH} bytes)`,
    );
  }
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const nextIndex = view.readUInt32BE(1);
  const firstIndex = view.readUInt32BE(OUTBOUND_STATE_LENGTH - 4);
  const createdAt = Number(view.readBigUInt64BE(5 + RATCHET_LENGTH + RAW_KEY_LENGTH));
  if (firstIndex > nextIndex || nextIndex > MAX_MESSAGE_INDEX || !Number.isSafeInteger(createdAt)) {
    throw new E2EError('BAD_SESSION_KEY', 'outbound session state is inconsistent');
  }
  return {
    nextIndex,
    ratchet: Buffer.from(view.subarray(5, 5 + RATCHET_LENGTH)),
    signingSeed: Buffer.from(view.subarray(5 + RATCHET_LENGTH, 5 + RATCHET_LENGTH + RAW_KEY_LENGTH)),
    createdAt,
    firstIndex,
  };
}
