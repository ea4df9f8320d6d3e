import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** Typed loader for ../shared/vectors/megolm-vectors.json (generated with libolm 3.2.15). */

export interface VectorMessage {
  message_index: number;
  plaintext_utf8: string;
  ciphertext_b64: string;
  decoded: {
    version: number;
    payload_hex: string;
    aes_cbc_ciphertext_hex: string;
    mac8_hex: string;
    signature_hex: string;
  };
  derived: { aes_key_hex: string; hmac_key_hex: string; iv_hex: string };
}

export interface VectorSession {
  label: string;
  ratchet_hex: string;
  ed25519_seed_hex: string;
  ed25519_public_b64: string;
  session_id: string;
  session_key_index0: string;
  session_key_after: { message_index: number; session_key: string };
  messages: VectorMessage[];
  exports: { message_index: number; exported_b64: string }[];
}

export interface VectorNegative {
  name: string;
  session_key?: string;
  import_export_b64?: string;
  ciphertext_b64?: string;
  libolm_error: string;
}

export interface MegolmVectors {
  generator: { libolm: string; drbg: string };
  sessions: VectorSession[];
  ratchet_advance: {
    initial_ratchet_hex: string;
    initial_index: number;
    ed25519_public_b64: string;
    points: { index: number; ratchet_hex: string }[];
  };
  negative: VectorNegative[];
  checks_passed: number;
}

export const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const vectorsPath = resolve(repoRoot, '../shared/vectors/megolm-vectors.json');

export function loadMegolmVectors(): MegolmVectors {
  return JSON.parse(readFileSync(vectorsPath, 'utf8')) as MegolmVectors;
}

export function hex(text: string): Buffer {
  return Buffer.from(text, 'hex');
}
