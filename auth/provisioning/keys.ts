/**
 * Registration keys: two halves, `<idHalf>-<secretHalf>` (Crockford base32, upper case, typable on
 * a serial console). The id half is what a device presents; only its SHA-256 is stored (it has 80
 * random bits, so a fast hash is enough and serves as the lookup key). The secret half never
 * travels: the server needs it to encrypt replies, so it is stored encrypted at rest (AES-256-GCM
 * under a key-encryption key derived with HKDF from the server's thing-secret key). A stolen
 * database alone therefore yields neither half in usable form.
 */
import { createCipheriv, createDecipheriv, createHash, hkdfSync, randomBytes } from 'node:crypto';

const ALPHABET = '0123456789ABCDEFGHJKMNPQRSTVWXYZ'; // Crockford base32
export const ID_HALF_LENGTH = 16; // 80 bits
export const SECRET_HALF_LENGTH = 26; // 130 bits

function randomBase32(length: number): string {
  const bytes = randomBytes(length);
  let out = '';
  for (let i = 0; i < length; i++) out += ALPHABET[bytes[i]! & 31];
  return out;
}

export interface RegistrationKeyHalves {
  idHalf: string;
  secretHalf: string;
}

export function generateHalves(): RegistrationKeyHalves {
  return { idHalf: randomBase32(ID_HALF_LENGTH), secretHalf: randomBase32(SECRET_HALF_LENGTH) };
}

/** Upper case, surrounding space removed: what devices type is compared in this form. */
export function normalizeHalf(half: string): string {
  return half.trim().toUpperCase();
}

/** The stored lookup value of an id half (SHA-256, hex). */
export function hashIdHalf(idHalf: string): string {
  return createHash('sha256').update(normalizeHalf(idHalf), 'utf8').digest('hex');
}

/** Encrypts and decrypts secret halves at rest: `base64(nonce(12) | ciphertext | tag(16))`, AAD = key id. */
export class SecretHalfVault {
  private readonly kek: Buffer;

  constructor(serverKey: Buffer) {
    if (serverKey.length < 32) throw new RangeError('the server key must be at least 32 bytes');
    this.kek = Buffer.from(hkdfSync('sha256', serverKey, Buffer.alloc(0), 'omap-provisioning-kek-v1', 32));
  }

  seal(keyId: string, secretHalf: string): string {
    const nonce = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.kek, nonce);
    cipher.setAAD(Buffer.from(keyId, 'utf8'));
    const ct = Buffer.concat([cipher.update(secretHalf, 'utf8'), cipher.final()]);
    return Buffer.concat([nonce, ct, cipher.getAuthTag()]).toString('base64');
  }

  open(keyId: string, sealed: string): string {
    const bytes = Buffer.from(sealed, 'base64');
    const decipher = createDecipheriv('aes-256-gcm', this.kek, bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(keyId, 'utf8'));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString(
      'utf8',
    );
  }
}

/** Serial numbers: 1–64 characters, letters, digits and `. _ : -`, starting with a letter or digit. */
export const SERIAL_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,63}$/;

export function validSerial(serial: string): boolean {
  return SERIAL_PATTERN.test(serial);
}

/**
 * Checks an operator's serial-number pattern before it is stored. Serials are short (≤ 64), but a
 * pattern with nested quantifiers can still backtrack exponentially on them, so the pattern must be
 * ≤ 200 characters, compile (`u` flag), and have no backreferences, lookarounds, or quantified group
 * containing a quantifier (star height ≤ 1). Returns the reason it is refused, or null.
 */
export function unsafePatternReason(pattern: string): string | null {
  if (pattern.length === 0 || pattern.length > 200) return 'the pattern must have 1 to 200 characters';
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    return `the pattern does not compile: ${(err as Error).message}`;
  }
  if (/\\[1-9]|\\k</.test(pattern)) return 'backreferences are not allowed';
  if (/\(\?<?[=!]/.test(pattern)) return 'lookarounds are not allowed';
  // Star height: a group that contains a quantifier must not be quantified itself.
  const stack: boolean[] = [];
  let lastGroupHadQuantifier = false;
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\') {
      i++;
      lastGroupHadQuantifier = false;
      continue;
    }
    if (inClass) {
      if (c === ']') inClass = false;
      continue;
    }
    if (c === '[') {
      inClass = true;
      lastGroupHadQuantifier = false;
    } else if (c === '(') {
      stack.push(false);
      lastGroupHadQuantifier = false;
    } else if (c === ')') {
      lastGroupHadQuantifier = stack.pop() ?? false;
      if (lastGroupHadQuantifier && stack.length > 0) stack[stack.length - 1] = true;
      continue;
    } else if (c === '*' || c === '+' || c === '?' || c === '{') {
      if (c === '?' && pattern[i - 1] === '(') continue;
      if (lastGroupHadQuantifier && c !== '?') return 'nested quantifiers are not allowed';
      if (stack.length > 0) stack[stack.length - 1] = true;
      if (c === '{') {
        const close = pattern.indexOf('}', i);
        if (close > 0) i = close;
      }
    }
    lastGroupHadQuantifier = false;
  }
  return null;
}

/** Whether `serial` matches the whole pattern. */
export function serialAllowed(pattern: string | null, serial: string): boolean {
  return pattern === null || new RegExp(`^(?:${pattern})$`, 'u').test(serial);
}
