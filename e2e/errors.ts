/**
 * Every failure of the e2e module is an `E2EError` with a machine-readable `code`.
 *
 * The Megolm codes carry libolm's names (without the `OLM.` prefix) so that a test vector's
 * `libolm_error` maps one to one onto our behaviour.
 */
export type E2EErrorCode =
  /** Input is not unpadded standard base64. */
  | 'BAD_BASE64'
  /** Megolm message version byte is not 0x03. */
  | 'BAD_MESSAGE_VERSION'
  /** Megolm message is truncated, malformed, or misses a required field. */
  | 'BAD_MESSAGE_FORMAT'
  /** An Ed25519 signature (message, session key, or key-share envelope) does not verify. */
  | 'BAD_SIGNATURE'
  /** The message index is before the first index this inbound session knows. */
  | 'UNKNOWN_MESSAGE_INDEX'
  /** The truncated HMAC-SHA-256 of a message does not match. */
  | 'BAD_MESSAGE_MAC'
  /** AES-CBC decryption or PKCS#7 unpadding failed (cannot happen after a good MAC unless keys are wrong). */
  | 'BAD_DECRYPTION'
  /** A session key, session export or saved session state is malformed. */
  | 'BAD_SESSION_KEY'
  /** A raw key has the wrong length or cannot be imported. */
  | 'BAD_KEY'
  /** The (session id, message index) pair was already accepted, or is older than the replay window. */
  | 'REPLAY'
  /** The E2E payload wrapper (content type application/vnd.omap.megolm.v1) is malformed. */
  | 'BAD_PAYLOAD'
  /** The payload names a Megolm session this consumer holds no key for. */
  | 'UNKNOWN_SESSION'
  /** A key-share envelope is malformed, of an unknown version or suite. */
  | 'BAD_ENVELOPE'
  /** A key-share envelope is addressed to another recipient key. */
  | 'WRONG_RECIPIENT'
  /** HPKE open failed: wrong private key, or the ciphertext was altered. */
  | 'DECRYPTION_FAILED'
  /** The sending device is not in the consumer's trust list. */
  | 'UNTRUSTED_DEVICE'
  /** A key share is older than one already accepted from the same device (possible replay by the broker). */
  | 'STALE_KEY_SHARE'
  /** A message arrived for a channel or device other than the one its session was shared for. */
  | 'CONTEXT_MISMATCH'
  /** The outbound session has used every index (2^32); it must be rotated. */
  | 'SESSION_EXHAUSTED'
  /** Saving the advanced outbound session failed; nothing was encrypted. */
  | 'PERSISTENCE_FAILED'
  /** An argument is out of range or of the wrong shape. */
  | 'INVALID_ARGUMENT';

/** The single error class of the e2e module. Compare `code`, never `message`. */
export class E2EError extends Error {
  readonly code: E2EErrorCode;

  constructor(code: E2EErrorCode, message: string, options?: { cause?: unknown }) {
    super(`${code}: ${message}`, options);
    this.name = 'E2EError';
    this.code = code;
  }
}

/** True when `error` is an `E2EError`, optionally with the given code. */
export function isE2EError(error: unknown, code?: E2EErrorCode): error is E2EError {
  return error instanceof E2EError && (code === undefined || error.code === code);
}
