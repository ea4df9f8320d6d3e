/**
 * The asymmetric keys that sign our tokens (EdDSA / Ed25519), kept in the database so that every
 * node of an installation signs and verifies with the same keys. The newest active key signs; every
 * active key verifies (rotation: add a key, let old tokens expire, retire the old key). `jwks()` is
 * what a JWKS endpoint publishes; the OAuth authorization server builds on this class.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, type JWK, type JWSHeaderParameters } from 'jose';
import type { KeysRepository } from '../storage/sql/repositories/keys.js';

export const SIGNING_ALG = 'EdDSA';

export interface SigningKey {
  readonly kid: string;
  readonly alg: string;
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  readonly publicJwk: JWK;
}

export class KeyRing {
  private keys: SigningKey[] = [];

  private constructor(private readonly repository: KeysRepository) {}

  /** Loads the active keys, creating the first one when there is none. */
  static async load(repository: KeysRepository): Promise<KeyRing> {
    const ring = new KeyRing(repository);
    await ring.reload();
    if (ring.keys.length === 0) await ring.rotate();
    return ring;
  }

  async reload(): Promise<void> {
    const records = await this.repository.active();
    this.keys = records.map((r) => {
      const privateKey = createPrivateKey(r.privateKey);
      return {
        kid: r.kid,
        alg: r.alg,
        privateKey,
        publicKey: createPublicKey(privateKey),
        publicJwk: JSON.parse(r.publicJwk) as JWK,
      };
    });
  }

  /** Adds a new signing key (which signs from now on); older keys keep verifying until retired. */
  async rotate(): Promise<SigningKey> {
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const jwk = publicKey.export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(jwk);
    const publicJwk: JWK = { ...jwk, kid, alg: SIGNING_ALG, use: 'sig' };
    await this.repository.insert({
      kid,
      alg: SIGNING_ALG,
      privateKey: privateKey.export({ format: 'pem', type: 'pkcs8' }).toString(),
      publicJwk: JSON.stringify(publicJwk),
    });
    const key: SigningKey = { kid, alg: SIGNING_ALG, privateKey, publicKey, publicJwk };
    this.keys.unshift(key);
    return key;
  }

  async retire(kid: string): Promise<void> {
    if (this.keys.length <= 1) throw new Error('cannot retire the last signing key');
    await this.repository.retire(kid);
    this.keys = this.keys.filter((k) => k.kid !== kid);
  }

  /** The key that signs new tokens. */
  get current(): SigningKey {
    const key = this.keys[0];
    if (key === undefined) throw new Error('no signing key loaded');
    return key;
  }

  /** The verification key for a token's header (by `kid`), or undefined. */
  verificationKey(header: JWSHeaderParameters): KeyObject | undefined {
    const key = this.keys.find((k) => k.kid === header.kid && k.alg === header.alg);
    return key?.publicKey;
  }

  /** The public keys as a JWK Set. */
  jwks(): { keys: JWK[] } {
    return { keys: this.keys.map((k) => k.publicJwk) };
  }
}
