/**
 * The management repositories, written once and run on both engines (SQLite and PostgreSQL): the
 * same queries, the same answers.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { constraintViolation } from '../../storage/sql/errors.js';
import { EVERYTHING } from '../../storage/sql/filters.js';
import { migrateToLatest } from '../../storage/sql/migrations/index.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import type { SqlStore } from '../../storage/sql/store.js';
import { ENGINES, openTestStore, type TestStore } from './engines.js';

const page = { limit: 50, offset: 0 };

describe.each(ENGINES)('management repositories on %s', (engine) => {
  let t: TestStore;
  let store: SqlStore;
  let tenant: OrgNode;
  let customer: OrgNode;
  let deployment: OrgNode;
  let other: OrgNode;

  async function node(
    name: string,
    kind: OrgNode['kind'],
    parent: OrgNode | null,
    metadata: Record<string, unknown> = {},
  ): Promise<OrgNode> {
    const id = randomUUID();
    return store.nodes.insert(
      {
        id,
        tenantId: parent?.tenantId ?? id,
        parentId: parent?.id ?? null,
        kind,
        name,
        metadata,
        path: `${parent?.path ?? '/'}${id}/`,
      },
      null,
    );
  }

  beforeAll(async () => {
    t = await openTestStore(engine, `repos_${engine}`);
    store = t.store;
    tenant = await node('Simpsons', 'tenant', null, { city: 'Springfield' });
    customer = await node('Household', 'customer', tenant, { floor: 2, pets: true });
    deployment = await node('Power plant', 'deployment', customer, { sector: '7G', reactor: 'ok' });
    other = await node('Flanders', 'tenant', null);
  }, 90_000);

  afterAll(async () => {
    await t?.close();
  }, 60_000);

  it('migrations are idempotent', async () => {
    const again = await migrateToLatest(store.db, store.engine);
    expect(again).toEqual([]);
  });

  it('nodes: get, subtree scope, name and metadata filters, paging totals', async () => {
    expect((await store.nodes.get(customer.id))?.name).toBe('Household');
    expect((await store.nodes.get(customer.id))?.metadata).toEqual({ floor: 2, pets: true });
    const all = await store.nodes.list(EVERYTHING, page);
    expect(all.total).toBe(4);
    const simpsons = await store.nodes.list({ paths: [tenant.path] }, page);
    expect(simpsons.items.map((n) => n.name)).toEqual(['Simpsons', 'Household', 'Power plant']);
    const below = await store.nodes.list({ paths: [customer.path] }, page);
    expect(below.total).toBe(2);
    expect((await store.nodes.list(EVERYTHING, { ...page, name: 'PLANT' })).items.map((n) => n.id)).toEqual([
      deployment.id,
    ]);
    expect((await store.nodes.list(EVERYTHING, { ...page, metadata: { floor: 2 } })).total).toBe(1);
    expect((await store.nodes.list(EVERYTHING, { ...page, metadata: { floor: '2' } })).total).toBe(0);
    expect((await store.nodes.list(EVERYTHING, { ...page, metadata: { pets: true } })).total).toBe(1);
    expect((await store.nodes.list(EVERYTHING, { ...page, metadata: { pets: 1 } })).total).toBe(0);
    expect(
      (await store.nodes.list(EVERYTHING, { ...page, metadata: { sector: '7G', reactor: 'ok' } })).total,
    ).toBe(1);
    const paged = await store.nodes.list(EVERYTHING, { limit: 1, offset: 1 });
    expect(paged.items).toHaveLength(1);
    expect(paged.total).toBe(4);
    expect((await store.nodes.list({ paths: [] }, page)).total).toBe(0);
    expect((await store.nodes.list({ paths: [], ids: [other.id] }, page)).items.map((n) => n.id)).toEqual([
      other.id,
    ]);
    expect(await store.nodes.countChildren(tenant.id)).toBe(1);
  });

  it('LIKE wildcards in a name filter are literal', async () => {
    const pct = await node('100% pure_water', 'unit', deployment);
    await node('100 pure water', 'unit', deployment);
    const r = await store.nodes.list(EVERYTHING, { ...page, name: '100%' });
    expect(r.items.map((n) => n.id)).toEqual([pct.id]);
    expect((await store.nodes.list(EVERYTHING, { ...page, name: 'e_w' })).items.map((n) => n.id)).toEqual([
      pct.id,
    ]);
  });

  it('updates are optimistic: a stale version is refused, a missing row reported', async () => {
    const n = await node('Garage', 'unit', customer);
    const updated = await store.nodes.update(n.id, { name: 'Garage 2' }, 'u1', n.version);
    expect(updated).toMatchObject({ name: 'Garage 2', version: 2, updatedBy: 'u1' });
    expect(await store.nodes.update(n.id, { name: 'Garage 3' }, 'u1', 1)).toBe('stale');
    expect(await store.nodes.update(randomUUID(), { name: 'x' }, 'u1')).toBe('missing');
    expect(await store.nodes.update(n.id, { metadata: { a: 1 } }, 'u2')).toMatchObject({ version: 3 });
  });

  it('users: unique email, memberships, scope through memberships', async () => {
    const id = randomUUID();
    await store.users.insert(
      {
        id,
        tenantId: tenant.id,
        kind: 'human',
        email: 'marge@simps.net',
        name: 'Marge',
        passwordHash: '$argon2id$x',
        status: 'enabled',
        profile: { phone: '555' },
      },
      null,
    );
    let err: unknown;
    try {
      await store.users.insert(
        {
          id: randomUUID(),
          tenantId: tenant.id,
          kind: 'human',
          email: 'marge@simps.net',
          name: 'Marge 2',
          passwordHash: 'x',
          status: 'enabled',
          profile: {},
        },
        null,
      );
    } catch (e) {
      err = e;
    }
    expect(constraintViolation(err)).toBe('unique');
    expect((await store.users.credentialsByEmail('MARGE@simps.net'))?.passwordHash).toBe('$argon2id$x');
    await store.users.addMembership(id, customer.id, null);
    await store.users.addMembership(id, customer.id, null);
    expect((await store.users.memberships(id)).map((m) => m.nodeId)).toEqual([customer.id]);
    expect((await store.users.list({ paths: [tenant.path] }, page)).items.map((u) => u.id)).toEqual([id]);
    expect((await store.users.list({ paths: [deployment.path] }, page)).total).toBe(0);
    expect((await store.users.members(customer.id, page)).total).toBe(1);
    expect(await store.users.removeMembership(id, customer.id)).toBe(true);
    expect((await store.users.list({ paths: [tenant.path] }, page)).total).toBe(0);
  });

  it('roles: permissions, assignment, grants with their subtree', async () => {
    const userId = randomUUID();
    await store.users.insert(
      {
        id: userId,
        tenantId: tenant.id,
        kind: 'system',
        email: `svc-${userId}@simps.net`,
        name: 'svc',
        passwordHash: 'x',
        status: 'enabled',
        profile: {},
      },
      null,
    );
    const role = await store.roles.insert(
      {
        id: randomUUID(),
        tenantId: tenant.id,
        nodeId: customer.id,
        name: 'customer-view',
        type: 'VIEW',
        isDefault: true,
        permissions: ['things.read', 'channels.read', 'things.read'],
      },
      null,
    );
    expect(role.permissions).toEqual(['channels.read', 'things.read']);
    expect((await store.roles.findByName(customer.id, 'customer-view'))?.id).toBe(role.id);
    await store.roles.assign(userId, role.id, null);
    await store.roles.grantDirect(
      { id: randomUUID(), userId, permission: 'messages.publish', nodeId: deployment.id },
      null,
    );
    await store.roles.grantDirect({ id: randomUUID(), userId, permission: 'audit.read', nodeId: null }, null);
    const grants = await store.roles.grantsOf(userId);
    expect(grants.map((g) => `${g.permission}@${g.path}`).sort()).toEqual(
      [
        `channels.read@${customer.path}`,
        `things.read@${customer.path}`,
        `messages.publish@${deployment.path}`,
        'audit.read@null',
      ].sort(),
    );
    const updated = await store.roles.update(role.id, { permissions: ['things.read'] }, null, role.version);
    expect(updated).toMatchObject({ permissions: ['things.read'], version: 2 });
    expect((await store.roles.rolesOf(userId)).map((r) => r.id)).toEqual([role.id]);
    expect(await store.roles.unassignAtNodes(userId, [customer.id])).toBe(1);
    expect(await store.roles.revokeDirectAtNodes(userId, [deployment.id])).toBe(1);
    expect((await store.roles.grantsOf(userId)).map((g) => g.permission)).toEqual(['audit.read']);
  });

  it('things: keyed-hash lookup, status, unique hash, FK restrict on the node', async () => {
    const id = randomUUID();
    await store.things.insert(
      {
        id,
        tenantId: tenant.id,
        nodeId: deployment.id,
        nodePath: deployment.path,
        name: 'thermometer-1',
        metadata: { serial: '74743827342', model: 'T1' },
        secretHash: 'aa'.repeat(32),
        status: 'enabled',
      },
      'admin',
    );
    expect((await store.things.bySecretHash('aa'.repeat(32)))?.id).toBe(id);
    expect(await store.things.bySecretHash('bb'.repeat(32))).toBeUndefined();
    const rotated = await store.things.update(
      id,
      { secretHash: 'cc'.repeat(32), status: 'disabled' },
      'admin',
    );
    expect(rotated).toMatchObject({ status: 'disabled', version: 2 });
    expect((await store.things.credentials(id))?.secretHash).toBe('cc'.repeat(32));
    expect(
      (await store.things.list({ paths: [customer.path] }, { ...page, metadata: { serial: '74743827342' } }))
        .total,
    ).toBe(1);
    expect((await store.things.list({ paths: [other.path] }, page)).total).toBe(0);
    let err: unknown;
    try {
      await store.nodes.delete(deployment.id);
    } catch (e) {
      err = e;
    }
    expect(constraintViolation(err)).toBe('foreign-key');
  });

  it('channels and connections: upsert rights, lookups both ways, cascade on delete', async () => {
    const thingId = randomUUID();
    await store.things.insert(
      {
        id: thingId,
        tenantId: tenant.id,
        nodeId: customer.id,
        nodePath: customer.path,
        name: 't',
        metadata: {},
        secretHash: randomUUID(),
        status: 'enabled',
      },
      null,
    );
    const channel = await store.channels.insert(
      {
        id: randomUUID(),
        tenantId: tenant.id,
        nodeId: customer.id,
        nodePath: customer.path,
        name: 'temperatures',
        metadata: {},
        strictSenml: true,
      },
      null,
    );
    expect(channel.strictSenml).toBe(true);
    await store.connections.upsert({ thingId, channelId: channel.id, publish: true, subscribe: false }, null);
    const c = await store.connections.upsert(
      { thingId, channelId: channel.id, publish: true, subscribe: true },
      null,
    );
    expect(c).toMatchObject({ publish: true, subscribe: true });
    expect((await store.connections.ofChannel(channel.id)).map((x) => x.thingId)).toEqual([thingId]);
    expect((await store.connections.ofThing(thingId)).map((x) => x.channelId)).toEqual([channel.id]);
    expect(await store.channels.delete(channel.id)).toBe(true);
    expect(await store.connections.get(thingId, channel.id)).toBeUndefined();
  });

  it('assets: typed properties, channels, shares and share grants by channel', async () => {
    const asset = await store.assets.insert(
      {
        id: randomUUID(),
        tenantId: tenant.id,
        nodeId: deployment.id,
        nodePath: deployment.path,
        name: 'Reactor 7G',
        type: 'reactor',
        properties: { power: { type: 'number', value: 1.21 }, vendor: { type: 'string', value: 'Burns' } },
        metadata: {},
      },
      null,
    );
    expect(asset.properties.power).toEqual({ type: 'number', value: 1.21 });
    const channel = await store.channels.insert(
      {
        id: randomUUID(),
        tenantId: tenant.id,
        nodeId: deployment.id,
        nodePath: deployment.path,
        name: 'reactor telemetry',
        metadata: {},
        strictSenml: false,
      },
      null,
    );
    await store.assets.linkChannel(asset.id, channel.id);
    await store.assets.linkChannel(asset.id, channel.id);
    expect(await store.assets.channelsOf(asset.id)).toEqual([channel.id]);
    const share = await store.assets.share(
      { id: randomUUID(), assetId: asset.id, nodeId: other.id, role: 'producer' },
      null,
    );
    const again = await store.assets.share(
      { id: randomUUID(), assetId: asset.id, nodeId: other.id, role: 'financier' },
      null,
    );
    expect(again.id).toBe(share.id);
    expect(again.role).toBe('financier');
    expect(await store.assets.shareGrantsForChannel(channel.id)).toEqual([
      { assetId: asset.id, targetPath: other.path, role: 'financier' },
    ]);
    expect((await store.assets.sharesInto({ paths: [other.path] })).map((s) => s.assetId)).toEqual([
      asset.id,
    ]);
    expect(await store.assets.sharesInto({ paths: [tenant.path] })).toEqual([]);
    expect((await store.assets.list({ paths: [], ids: [asset.id] }, page)).total).toBe(1);
    expect((await store.assets.list({ paths: [tenant.path] }, { ...page, type: 'reactor' })).total).toBe(1);
    expect(await store.assets.unshare(asset.id, share.id)).toBe(true);
    expect(await store.assets.shareGrants(asset.id)).toEqual([]);
  });

  it('tokens: revoke all live tokens of a user', async () => {
    const userId = randomUUID();
    await store.users.insert(
      {
        id: userId,
        tenantId: null,
        kind: 'human',
        email: `h-${userId}@x.org`,
        name: 'h',
        passwordHash: 'x',
        status: 'enabled',
        profile: {},
      },
      null,
    );
    const issuedAt = new Date().toISOString();
    const future = new Date(Date.now() + 3_600_000).toISOString();
    const past = new Date(Date.now() - 1000).toISOString();
    await store.tokens.insert({ id: 'j1', userId, kind: 'login', issuedAt, expiresAt: future });
    await store.tokens.insert({ id: 'j2', userId, kind: 'login', issuedAt, expiresAt: future });
    await store.tokens.insert({ id: 'j3', userId, kind: 'login', issuedAt, expiresAt: past });
    expect((await store.tokens.active(userId)).map((t) => t.id).sort()).toEqual(['j1', 'j2']);
    expect((await store.tokens.revokeAll(userId)).sort()).toEqual(['j1', 'j2']);
    expect(await store.tokens.active(userId)).toEqual([]);
    expect((await store.tokens.get('j1'))?.revokedAt).not.toBeNull();
    expect(await store.tokens.revoke('j1')).toBe(false);
    expect(await store.tokens.purgeExpired(new Date().toISOString())).toBe(1);
  });

  it('audit log: newest first, per tenant and per entity', async () => {
    await store.audit.append({
      actorId: 'a',
      tenantId: tenant.id,
      action: 'thing.create',
      entityType: 'thing',
      entityId: 'e1',
      details: { name: 'x' },
    });
    await store.audit.append({
      actorId: 'a',
      tenantId: tenant.id,
      action: 'thing.update',
      entityType: 'thing',
      entityId: 'e1',
      details: {},
    });
    await store.audit.append({
      actorId: 'b',
      tenantId: other.id,
      action: 'node.create',
      entityType: 'node',
      entityId: 'e2',
      details: {},
    });
    const mine = await store.audit.list({ tenantId: tenant.id, limit: 10, offset: 0 });
    expect(mine.items.map((e) => e.action)).toEqual(['thing.update', 'thing.create']);
    expect(mine.items[1]!.details).toEqual({ name: 'x' });
    expect((await store.audit.list({ tenantId: null, limit: 10, offset: 0 })).total).toBe(3);
    expect((await store.audit.list({ tenantId: null, entityId: 'e2', limit: 10, offset: 0 })).total).toBe(1);
  });

  it('settings: set-if-absent and take-once', async () => {
    expect(await store.settings.setIfAbsent('setup', 'h1')).toBe(true);
    expect(await store.settings.setIfAbsent('setup', 'h2')).toBe(false);
    expect(await store.settings.get('setup')).toBe('h1');
    const [a, b] = await Promise.all([store.settings.take('setup'), store.settings.take('setup')]);
    expect([a, b].filter((v) => v !== undefined)).toEqual(['h1']);
  });

  it('signing keys: active newest first, retire', async () => {
    await store.keys.insert({ kid: 'k1', alg: 'EdDSA', privateKey: 'pem1', publicJwk: '{}' });
    await new Promise((r) => setTimeout(r, 5));
    await store.keys.insert({ kid: 'k2', alg: 'EdDSA', privateKey: 'pem2', publicJwk: '{}' });
    expect((await store.keys.active()).map((k) => k.kid)).toEqual(['k2', 'k1']);
    await store.keys.retire('k2');
    expect((await store.keys.active()).map((k) => k.kid)).toEqual(['k1']);
  });

  it('transactions commit or roll back as a whole', async () => {
    const id = randomUUID();
    await expect(
      store.transaction(async (tx) => {
        await tx.nodes.insert(
          { id, tenantId: id, parentId: null, kind: 'tenant', name: 'tx', metadata: {}, path: `/${id}/` },
          null,
        );
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await store.nodes.get(id)).toBeUndefined();
    await store.transaction(async (tx) => {
      await tx.nodes.insert(
        { id, tenantId: id, parentId: null, kind: 'tenant', name: 'tx', metadata: {}, path: `/${id}/` },
        null,
      );
    });
    expect((await store.nodes.get(id))?.name).toBe('tx');
  });
});
