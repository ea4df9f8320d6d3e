/**
 * The platform authorizer on its own: credential schemes, the synchronous cached path, the TTL
 * safety net, invalidation by management changes, and refusing (not failing) when the store fails.
 */
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { PlatformAuthorizer } from '../../auth/platform-authorizer.js';
import type { ClientInfo } from '../../broker/index.js';
import { createTenant, startPlatform, type TenantFixture, type TestPlatform } from '../admin/harness.js';

let t: TestPlatform;
let tenant: TenantFixture;
let authorizer: PlatformAuthorizer;
let channelId: string;
let thing: { id: string; secret: string };

beforeAll(async () => {
  t = await startPlatform({ platform: { decisionTtlMs: 200 } });
  tenant = await createTenant(t.root, 'Unit');
  authorizer = t.platform.authorizer;
  channelId = (await tenant.admin.post('/channels', { nodeId: tenant.customer.id, name: 'c' })).body.id;
  const created = (await tenant.admin.post('/things', { nodeId: tenant.customer.id, name: 'd' })).body;
  thing = { id: created.thing.id, secret: created.secret };
  await tenant.admin.put(`/channels/${channelId}/things/${thing.id}`, { publish: true, subscribe: false });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function client(request: Parameters<PlatformAuthorizer['authenticate']>[0]): Promise<ClientInfo> {
  const r = await authorizer.authenticate(request);
  if (!r.ok) throw new Error(r.reason);
  return { id: request.clientId, protocol: 'mqtt', principal: r.principal };
}

describe('authentication', () => {
  it('accepts a thing by id + secret (MQTT, Basic) or by secret alone (Thing, query, MQTT 5 without username)', async () => {
    const secret = Buffer.from(thing.secret);
    for (const request of [
      { clientId: 'a', username: thing.id, password: secret, protocol: 'mqtt' },
      { clientId: 'b', username: thing.id, password: secret, scheme: 'basic' as const, protocol: 'http' },
      { clientId: 'c', password: secret, scheme: 'thing' as const, protocol: 'http' },
      { clientId: 'd', password: secret, scheme: 'query' as const, protocol: 'coap' },
      { clientId: 'e', password: secret, protocol: 'mqtt' },
    ]) {
      const r = await authorizer.authenticate(request);
      expect(r.ok && (r.principal as { id: string }).id).toBe(thing.id);
    }
    // All connections of one identity share one principal (and its cached decisions).
    const a = await client({ clientId: 'x', username: thing.id, password: secret, protocol: 'mqtt' });
    const b = await client({ clientId: 'y', password: secret, scheme: 'thing', protocol: 'http' });
    expect(a.principal).toBe(b.principal);
  });

  it('a token authenticates a user until its expiry, which the broker is told (it closes the connection then)', async () => {
    const login = await t.api.post('/auth/login', { email: 'admin@unit.test', password: 'admin-password' });
    const r = await authorizer.authenticate({
      clientId: 'u',
      username: 'any',
      password: Buffer.from(login.body.accessToken),
      protocol: 'mqtt',
    });
    expect(r.ok).toBe(true);
    const expected = Date.now() + login.body.expiresIn * 1000;
    expect(r.ok && Math.abs((r.expiresAt ?? 0) - expected)).toBeLessThan(2000);
    expect(r.ok && (r.principal as { kind: string }).kind).toBe('user');
    tenant.admin = t.api.as(login.body.accessToken);
  });

  it('refuses wrong secrets, unknown ids, empty or huge passwords as bad credentials', async () => {
    for (const request of [
      { clientId: 'a', username: thing.id, password: Buffer.from('nope'), protocol: 'mqtt' },
      {
        clientId: 'a',
        username: '00000000-0000-4000-8000-000000000000',
        password: Buffer.from(thing.secret),
        protocol: 'mqtt',
      },
      { clientId: 'a', username: thing.id, protocol: 'mqtt' },
      { clientId: 'a', username: thing.id, password: Buffer.alloc(0), protocol: 'mqtt' },
      { clientId: 'a', password: Buffer.alloc(5000, 1), protocol: 'mqtt' },
      {
        clientId: 'a',
        password: Buffer.from('eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJ4In0.c2ln'),
        scheme: 'bearer' as const,
        protocol: 'http',
      },
    ]) {
      expect(await authorizer.authenticate(request)).toEqual({ ok: false, reason: 'bad-credentials' });
    }
  });
});

describe('decisions', () => {
  it('answer synchronously once cached, and expire after the TTL', async () => {
    const c = await client({
      clientId: 'sync',
      username: thing.id,
      password: Buffer.from(thing.secret),
      protocol: 'mqtt',
    });
    const topic = `channels/${channelId}/messages/t`;
    const first = authorizer.authorizePublish(c, topic);
    expect(first).toBeInstanceOf(Promise);
    expect(await first).toBe(true);
    expect(authorizer.authorizePublish(c, topic)).toBe(true);
    // Another subtopic of a channel already evaluated is answered synchronously too.
    expect(authorizer.authorizePublish(c, `channels/${channelId}/messages/other`)).toBe(true);
    expect(authorizer.authorizeSubscribe(c, `channels/${channelId}/messages/#`)).toBe(false);
    // After the TTL the store is asked again (a Promise).
    await new Promise((r) => setTimeout(r, 250));
    const again = authorizer.authorizePublish(c, topic);
    expect(again).toBeInstanceOf(Promise);
    expect(await again).toBe(true);
  });

  it('a management change clears the cache before the API answers', async () => {
    const c = await client({
      clientId: 'chg',
      username: thing.id,
      password: Buffer.from(thing.secret),
      protocol: 'mqtt',
    });
    const topic = `channels/${channelId}/messages/t`;
    expect(await authorizer.authorizePublish(c, topic)).toBe(true);
    expect(authorizer.authorizePublish(c, topic)).toBe(true);
    await tenant.admin.put(`/channels/${channelId}/things/${thing.id}`, { publish: false, subscribe: true });
    expect(await authorizer.authorizePublish(c, topic)).toBe(false);
    expect(await authorizer.authorizeSubscribe(c, `channels/${channelId}/messages/#`)).toBe(true);
    await tenant.admin.put(`/channels/${channelId}/things/${thing.id}`, { publish: true, subscribe: false });
  });

  it('an answer read before a change arrived is not used: the decision is made again', async () => {
    const c = await client({
      clientId: 'race',
      username: thing.id,
      password: Buffer.from(thing.secret),
      protocol: 'mqtt',
    });
    const reads = vi.spyOn(t.platform.store.connections, 'get');
    try {
      const pending = authorizer.authorizeSubscribe(c, `channels/${channelId}/messages/race/#`);
      expect(pending).toBeInstanceOf(Promise);
      // The change lands while the first read is in flight.
      void t.platform.changes.publish({ type: 'connection.changed', thingId: thing.id, channelId });
      expect(await pending).toBe(false);
      expect(reads).toHaveBeenCalledTimes(2);
    } finally {
      reads.mockRestore();
    }
  });

  it('clients without a platform principal are refused', () => {
    expect(authorizer.authorizePublish({ id: 'x' }, `channels/${channelId}/messages`)).toBe(false);
    expect(authorizer.authorizeSubscribe({ id: 'x', principal: { kind: 'thing' } }, '#')).toBe(false);
  });

  it('a failing store means "unavailable" at connect and a refusal at publish, never an exception', async () => {
    const errors: string[] = [];
    const { PlatformAuthorizer: Ctor } = await import('../../auth/platform-authorizer.js');
    const { ChangeFeed } = await import('../../auth/change-feed.js');
    const { ThingSecrets } = await import('../../auth/thing-secrets.js');
    const broken = new Proxy(t.platform.store, {
      get(target, prop) {
        if (prop === 'things' || prop === 'connections') {
          return new Proxy(
            {},
            {
              get: () => async () => {
                throw new Error('database down');
              },
            },
          );
        }
        return Reflect.get(target, prop);
      },
    });
    const failing = new Ctor(
      broken,
      new ThingSecrets(Buffer.alloc(32)),
      t.platform.services.sessions.tokens,
      {
        grantsOf: async () => {
          throw new Error('down');
        },
      } as never,
      new ChangeFeed(),
      { onError: (_e, context) => errors.push(context) },
    );
    expect(
      await failing.authenticate({
        clientId: 'a',
        username: thing.id,
        password: Buffer.from(thing.secret),
        protocol: 'mqtt',
      }),
    ).toEqual({
      ok: false,
      reason: 'unavailable',
    });
    // A principal with nothing cached, so the decision must ask the (failing) store.
    const { PlatformPrincipal } = await import('../../auth/principal.js');
    const c: ClientInfo = {
      id: 'f',
      protocol: 'mqtt',
      principal: new PlatformPrincipal('thing', thing.id, tenant.tenant.id, 'thing:f'),
    };
    expect(await failing.authorizePublish(c, `channels/${channelId}/messages/zzz`)).toBe(false);
    expect(errors).toEqual(['authenticate', 'authorize publish']);
    failing.close();
  });
});
