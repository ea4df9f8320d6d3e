/**
 * Strict mode: validate SenML before fan-out. The protocol front-ends call {@link checkStrict} for channels in strict
 * mode and answer a failure with HTTP 400, CoAP 4.00 (Bad Request) or MQTT 5 PUBACK 0x99 (Payload format invalid).
 */
import { classifyContentType } from './content-type.js';
import { type SenMLOptions, validateSenML } from './senml.js';
import { SenMLError } from './senml-error.js';

export type StrictResult = { ok: true } | { ok: false; error: SenMLError };

const OK: StrictResult = Object.freeze({ ok: true });

/**
 * Pure and synchronous; never throws. SenML JSON/CBOR payloads (packs and streams) must be valid; SenML media types
 * this codec does not parse (EXI, XML) are refused (`unsupported-content-type`); every other content type
 * (octet-stream, E2E ciphertext, ...) is opaque and passes. `options.now` is irrelevant to validity.
 */
export function checkStrict(contentType: string, bytes: Uint8Array, options?: SenMLOptions): StrictResult {
  const kind = classifyContentType(contentType).kind;
  if (kind === 'binary') return OK;
  let error: SenMLError | null;
  try {
    error = validateSenML(bytes, contentType, options);
  } catch (cause) {
    // Not reachable for Uint8Array input (the fuzz tests hold it to that); a front-end must never crash on a payload.
    error = new SenMLError('internal', `codec failure: ${String(cause)}`, -1, 'codec: internal error');
  }
  return error === null ? OK : { ok: false, error };
}
