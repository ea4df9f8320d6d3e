/**
 * Device side of OMAP provisioning — a reference for firmware authors. It uses node:crypto only (and
 * the global `fetch` for the HTTP example); every step maps to a primitive a microcontroller library
 * offers (mbedTLS: mbedtls_hkdf + mbedtls_gcm_auth_decrypt; wolfSSL: wc_HKDF + wc_AesGcmDecrypt).
 *
 * What the device knows: its serial number (burned in) and the registration key typed in by the
 * installer, `<idHalf>-<secretHalf>`. The id half is sent; the secret half never leaves the device.
 *
 * 1. POST /provision/devices/<serial>?key=<idHalf>            (HTTP: JSON with base64 `envelope`;
 *    or POST coap://host/provision/devices/<serial>?key=<idHalf>  CoAP: 2.04, payload = envelope)
 * 2. Open the envelope (below) with the secret half and the serial: {thingId, channelId, secret}.
 * 3. Store them; connect (MQTT username = thingId, password = secret; or CoAP ?auth=<secret>) and
 *    publish to channels/<channelId>/messages.
 *
 * Envelope, byte by byte:
 *   [0]        version = 0x01
 *   [1..16]    salt, 16 bytes
 *   [17..28]   nonce, 12 bytes
 *   [29..n-17] ciphertext
 *   [n-16..]   GCM tag, 16 bytes
 * key = HKDF-SHA256(ikm = ASCII secret half (upper case), salt, info = "omap-provisioning-v1:registration", 32 bytes)
 * aad = envelope[0..28] || ASCII serial
 * AES-256-GCM decrypt; a tag mismatch means a tampered or misaddressed reply: discard it, do not retry
 * with other keys. Re-provisioning (a new secret, asked with the current one) uses the same format with
 * ikm = the current secret and info = "omap-provisioning-v1:reprovision".
 */
import { createDecipheriv, hkdfSync } from 'node:crypto';

export const ENVELOPE_VERSION = 0x01;
const SALT = 16;
const NONCE = 12;
const TAG = 16;
const HEADER = 1 + SALT + NONCE;

export interface ProvisionedCredentials {
  thingId: string;
  channelId: string;
  secret: string;
}

export class EnvelopeError extends Error {}

/** Splits `<idHalf>-<secretHalf>` (surrounding space ignored, upper-cased). */
export function parseRegistrationKey(key: string): { idHalf: string; secretHalf: string } {
  const trimmed = key.trim().toUpperCase();
  const dash = trimmed.indexOf('-');
  if (dash <= 0 || dash === trimmed.length - 1)
    throw new Error('a registration key is <idHalf>-<secretHalf>');
  return { idHalf: trimmed.slice(0, dash), secretHalf: trimmed.slice(dash + 1) };
}

/** Decrypts and checks an envelope; throws EnvelopeError when it is malformed or not authentic. */
export function openEnvelope(
  secret: string,
  serial: string,
  envelope: Uint8Array,
  purpose: 'registration' | 'reprovision' = 'registration',
): ProvisionedCredentials {
  const bytes = Buffer.from(envelope);
  if (bytes.length < HEADER + TAG) throw new EnvelopeError('envelope too short');
  if (bytes[0] !== ENVELOPE_VERSION) throw new EnvelopeError(`unknown envelope version ${bytes[0]}`);
  const salt = bytes.subarray(1, 1 + SALT);
  const nonce = bytes.subarray(1 + SALT, HEADER);
  const key = Buffer.from(
    hkdfSync('sha256', Buffer.from(secret, 'utf8'), salt, `omap-provisioning-v1:${purpose}`, 32),
  );
  const decipher = createDecipheriv('aes-256-gcm', key, nonce, { authTagLength: TAG });
  decipher.setAAD(Buffer.concat([bytes.subarray(0, HEADER), Buffer.from(serial, 'utf8')]));
  decipher.setAuthTag(bytes.subarray(bytes.length - TAG));
  let plaintext: Buffer;
  try {
    plaintext = Buffer.concat([
      decipher.update(bytes.subarray(HEADER, bytes.length - TAG)),
      decipher.final(),
    ]);
  } catch {
    throw new EnvelopeError('the envelope is not authentic (wrong key or serial, or tampered)');
  }
  const value = JSON.parse(plaintext.toString('utf8')) as Partial<ProvisionedCredentials>;
  if (
    typeof value.thingId !== 'string' ||
    typeof value.channelId !== 'string' ||
    typeof value.secret !== 'string'
  ) {
    throw new EnvelopeError('the envelope does not hold thingId, channelId and secret');
  }
  return { thingId: value.thingId, channelId: value.channelId, secret: value.secret };
}

/** An error answer of the platform: the HTTP status and its `{error, message}`. */
export class ProvisioningRefused extends Error {
  constructor(
    readonly status: number,
    readonly error: string,
    message: string,
  ) {
    super(`${status} ${error}: ${message}`);
  }
}

async function post(url: string, headers: Record<string, string>): Promise<{ envelope: Buffer }> {
  const res = await fetch(url, { method: 'POST', headers, signal: AbortSignal.timeout(10_000) });
  const body = (await res.json()) as { envelope?: string; error?: string; message?: string };
  if (!res.ok || typeof body.envelope !== 'string') {
    throw new ProvisioningRefused(res.status, body.error ?? 'error', body.message ?? '');
  }
  return { envelope: Buffer.from(body.envelope, 'base64') };
}

/** Registers over HTTP: `baseUrl` like `http://platform:8080`; returns the decrypted credentials. */
export async function registerOverHttp(
  baseUrl: string,
  serial: string,
  registrationKey: string,
): Promise<ProvisionedCredentials> {
  const { idHalf, secretHalf } = parseRegistrationKey(registrationKey);
  const { envelope } = await post(
    `${baseUrl}/provision/devices/${encodeURIComponent(serial)}?key=${encodeURIComponent(idHalf)}`,
    {},
  );
  return openEnvelope(secretHalf, serial, envelope);
}

/** Asks for a new secret with the current one (HTTP). */
export async function reprovisionOverHttp(
  baseUrl: string,
  serial: string,
  currentSecret: string,
): Promise<ProvisionedCredentials> {
  const { envelope } = await post(`${baseUrl}/provision/devices/${encodeURIComponent(serial)}/secret`, {
    authorization: `Thing ${currentSecret}`,
  });
  return openEnvelope(currentSecret, serial, envelope, 'reprovision');
}
