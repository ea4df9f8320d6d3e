/** Tokens (jose, EdDSA, revocation), the key ring, password hashing, thing secrets, topic parsing. */
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodeProtectedHeader, importJWK, jwtVerify, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channelOfFilter, channelOfTopic } from '../../auth/channel-topics.js';
import { KeyRing } from '../../auth/key-ring.js';
import { PasswordHasher } from '../../auth/passwords.js';
import { loadOrCreateKeyFile, ThingSecrets } from '../../auth/thing-secrets.js';
import { looksLikeJwt, TokenService } from '../../auth/tokens.js';
import { openTestStore, type TestStore } from '../storage/engines.js';

let t: TestStore;
const user = { id: randomUUID(), kind: 'human' as const, tenantId: null };

beforeAll(async () => {
  t = await openTestStore('sqlite', 'credentials');
  await t.store.users.insert(
    {
      id: user.id,
      tenantId: null,
      kind: 'human',
      email: 'a@b.test',
      name: 'a',
      passwordHash: 'x',
      status: 'enabled',
      profile: {},
    },
    null,
  );
});

afterAll(async () => {
  await t?.close();
});

describe('tokens', () => {
  it('are EdDSA JWTs with kid, typ, iss, aud, exp and a recorded jti', async () => {
    const keys = await KeyRing.load(t.store.keys);
    const tokens = new TokenService(t.store.tokens, keys);
    const { token, claims } = await tokens.issue(user, 'login');
    expect(looksLikeJwt(token)).toBe(true);
    const header = decodeProtectedHeader(token);
    expect(header).toMatchObject({ alg: 'EdDSA', typ: 'at+jwt', kid: keys.current.kid });
    // Anyone with the published JWKS can verify it.
    const jwk = keys.jwks().keys[0]!;
    const { payload } = await jwtVerify(token, await importJWK(jwk, 'EdDSA'), {
      issuer: 'omap',
      audience: 'omap',
    });
    expect(payload).toMatchObject({ sub: user.id, jti: claims.tokenId, knd: 'login' });
    expect((await t.store.tokens.get(claims.tokenId))?.kind).toBe('login');
    expect(await tokens.verify(token)).toMatchObject({ userId: user.id, tokenId: claims.tokenId });
  });

  it('revoked, expired, foreign-key or tampered tokens do not verify', async () => {
    const keys = await KeyRing.load(t.store.keys);
    const tokens = new TokenService(t.store.tokens, keys, { loginTtlSeconds: 3600 });
    const { token, claims } = await tokens.issue(user, 'login');
    expect(await tokens.verify(token)).not.toBeNull();
    await t.store.tokens.revoke(claims.tokenId);
    tokens.forget([claims.tokenId]);
    expect(await tokens.verify(token)).toBeNull();

    const expired = new TokenService(t.store.tokens, keys, { loginTtlSeconds: -60 });
    expect(await expired.verify((await expired.issue(user, 'login')).token)).toBeNull();

    const [head, body] = token.split('.');
    expect(await tokens.verify(`${head}.${body}.${'A'.repeat(86)}`)).toBeNull();

    // Same claims signed by a key that is not ours.
    const otherStore = await openTestStore('sqlite', 'other-keys');
    const other = await KeyRing.load(otherStore.store.keys);
    await otherStore.close();
    const forged = await new SignJWT({ knd: 'login', ukd: 'human', tid: null })
      .setProtectedHeader({ alg: 'EdDSA', kid: keys.current.kid, typ: 'at+jwt' })
      .setIssuer('omap')
      .setAudience('omap')
      .setSubject(user.id)
      .setJti(randomUUID())
      .setExpirationTime('1h')
      .sign(other.current.privateKey);
    expect(await tokens.verify(forged)).toBeNull();
    expect(await tokens.verify('eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0.')).toBeNull();
  });

  it('a rotated key signs new tokens while the old one still verifies', async () => {
    const keys = await KeyRing.load(t.store.keys);
    const tokens = new TokenService(t.store.tokens, keys);
    const before = (await tokens.issue(user, 'api')).token;
    const oldKid = keys.current.kid;
    await keys.rotate();
    const after = (await tokens.issue(user, 'api')).token;
    expect(decodeProtectedHeader(after).kid).not.toBe(oldKid);
    expect(await tokens.verify(before)).not.toBeNull();
    expect(keys.jwks().keys.length).toBeGreaterThanOrEqual(2);
    await keys.retire(oldKid);
    const fresh = new TokenService(t.store.tokens, await KeyRing.load(t.store.keys));
    expect(await fresh.verify(before)).toBeNull();
    expect(await fresh.verify(after)).not.toBeNull();
  });
});

describe('passwords', () => {
  it('argon2id PHC hashes verify, reject, and say when the cost was raised', async () => {
    const weak = new PasswordHasher({ memoryCost: 1024, timeCost: 1, parallelism: 1 });
    const hash = await weak.hash('correct horse');
    expect(hash).toMatch(/^\$argon2id\$v=19\$m=1024,t=1,p=1\$/);
    expect(await weak.verify(hash, 'correct horse')).toBe(true);
    expect(await weak.verify(hash, 'wrong horse')).toBe(false);
    expect(await weak.verify('!', 'anything')).toBe(false);
    expect(weak.needsRehash(hash)).toBe(false);
    expect(new PasswordHasher().needsRehash(hash)).toBe(true);
  });
});

describe('thing secrets', () => {
  it('are 256-bit, stored as HMAC-SHA-256 under the server key, compared in constant time', () => {
    const secrets = new ThingSecrets(Buffer.alloc(32, 7));
    const secret = secrets.generate();
    expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    const hash = secrets.hash(secret);
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expect(secrets.matches(secret, hash)).toBe(true);
    expect(secrets.matches(`${secret}x`, hash)).toBe(false);
    expect(secrets.matches(secret, 'abcd')).toBe(false);
    // Another server key gives another hash: the database alone cannot confirm a secret.
    expect(new ThingSecrets(Buffer.alloc(32, 8)).hash(secret)).not.toBe(hash);
    expect(() => new ThingSecrets(Buffer.alloc(16))).toThrow(RangeError);
  });

  it('the key file is created once with mode 0600 and reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'omap-key-'));
    try {
      const file = join(dir, 'sub', 'thing-secret.key');
      const a = loadOrCreateKeyFile(file);
      expect(a).toHaveLength(32);
      expect(statSync(file).mode & 0o777).toBe(0o600);
      expect(loadOrCreateKeyFile(file).equals(a)).toBe(true);
      expect(readFileSync(file, 'utf8').trim()).toBe(a.toString('base64'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('channel topics', () => {
  it('finds the channel of a topic or filter in the channels/<id>/messages namespace', () => {
    expect(channelOfTopic('channels/abc/messages')).toBe('abc');
    expect(channelOfTopic('channels/abc/messages/temp/room1')).toBe('abc');
    expect(channelOfTopic('channels/abc/messagesX')).toBeNull();
    expect(channelOfTopic('channels//messages')).toBeNull();
    expect(channelOfTopic('channels/abc')).toBeNull();
    expect(channelOfTopic('things/abc/messages')).toBeNull();
    expect(channelOfFilter('channels/abc/messages/#')).toBe('abc');
    expect(channelOfFilter('channels/abc/messages/+/temp')).toBe('abc');
    expect(channelOfFilter('$share/group/channels/abc/messages/#')).toBe('abc');
    expect(channelOfFilter('channels/+/messages')).toBeNull();
    expect(channelOfFilter('channels/#')).toBeNull();
    expect(channelOfFilter('#')).toBeNull();
    expect(channelOfFilter('$share/g')).toBeNull();
  });
});
