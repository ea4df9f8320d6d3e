/**
 * Tenant isolation as a property (fast-check): random worlds of tenants with nested nodes, users
 * holding random roles, things, channels, connections, assets linking channels, and asset shares
 * across tenants. For every user and thing, against every entity of another tenant:
 * - no read crosses (REST 404), except an asset shared with an organization the user's role covers;
 * - no publish or subscribe crosses (the platform authorizer, as the broker asks it), except on the
 *   channels of such an asset, when the share's role and the user's role both allow it;
 * and every such exception is granted (the share works), computed from an independent model.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { permissionsUpTo } from '../../auth/permissions.js';
import { SHARE_ROLE_NAMES, shareAllows } from '../../auth/share-roles.js';
import type { ClientInfo } from '../../broker/index.js';
import { type Api, type Json, startPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;
let run = 0;
/** Cross-tenant cases a share allowed: the property must not hold only vacuously. */
const granted = { read: 0, publish: 0, subscribe: 0 };
/** Cross-tenant cases where a share reached the user's organization but its role (or theirs) refused. */
const refusedDespiteShare = { publish: 0, subscribe: 0 };

beforeAll(async () => {
  t = await startPlatform();
}, 60_000);

afterAll(async () => {
  await t?.close();
});

type RoleName = 'view' | 'manage' | 'admin';
const ROLE_TYPE = { view: 'VIEW', manage: 'MANAGE', admin: 'ADMIN' } as const;

interface ModelNode {
  id: string;
  tenant: number;
  kind: string;
  /** Ids from the root down to this node. */
  lineage: string[];
}

const worldArbitrary = fc.record({
  tenants: fc.integer({ min: 2, max: 3 }),
  nodes: fc.array(
    fc.record({ tenant: fc.nat(), parent: fc.nat(), kind: fc.constantFrom('customer', 'deployment') }),
    {
      minLength: 1,
      maxLength: 4,
    },
  ),
  users: fc.array(
    fc.record({
      tenant: fc.nat(),
      node: fc.nat(),
      role: fc.constantFrom<RoleName>('view', 'manage', 'admin'),
    }),
    {
      minLength: 1,
      maxLength: 4,
    },
  ),
  things: fc.array(fc.record({ tenant: fc.nat(), node: fc.nat() }), { minLength: 1, maxLength: 4 }),
  channels: fc.array(fc.record({ tenant: fc.nat(), node: fc.nat() }), { minLength: 1, maxLength: 4 }),
  connections: fc.array(
    fc.record({ thing: fc.nat(), channel: fc.nat(), publish: fc.boolean(), subscribe: fc.boolean() }),
    { maxLength: 6 },
  ),
  assets: fc.array(
    fc.record({
      tenant: fc.nat(),
      node: fc.nat(),
      channels: fc.array(fc.nat(), { minLength: 1, maxLength: 3 }),
    }),
    {
      minLength: 1,
      maxLength: 3,
    },
  ),
  shares: fc.array(
    fc.record({ asset: fc.nat(), target: fc.nat(), role: fc.constantFrom(...SHARE_ROLE_NAMES) }),
    {
      minLength: 1,
      maxLength: 5,
    },
  ),
});

type World = typeof worldArbitrary extends fc.Arbitrary<infer W> ? W : never;

async function ok<T = Json>(p: Promise<{ status: number; body: T }>, status = 201): Promise<T> {
  const r = await p;
  if (r.status !== status) throw new Error(`expected ${status}, got ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body;
}

async function build(root: Api, w: World) {
  run++;
  const nodes: ModelNode[] = [];
  const byTenant: ModelNode[][] = [];
  for (let i = 0; i < w.tenants; i++) {
    const tenant = await ok(root.post('/nodes', { kind: 'tenant', name: `T${run}.${i}` }));
    const n: ModelNode = { id: tenant.id, tenant: i, kind: 'tenant', lineage: [tenant.id] };
    nodes.push(n);
    byTenant.push([n]);
  }
  for (const spec of w.nodes) {
    const tenant = spec.tenant % w.tenants;
    const candidates = byTenant[tenant]!.filter((n) => n.kind !== 'deployment');
    const parent = candidates[spec.parent % candidates.length]!;
    const node = await ok(
      root.post('/nodes', { kind: spec.kind, name: `n${nodes.length}`, parentId: parent.id }),
    );
    const n: ModelNode = { id: node.id, tenant, kind: spec.kind, lineage: [...parent.lineage, node.id] };
    nodes.push(n);
    byTenant[tenant]!.push(n);
  }
  const pick = (tenant: number, index: number): ModelNode => {
    const list = byTenant[tenant % w.tenants]!;
    return list[index % list.length]!;
  };

  const users: { tenant: number; node: ModelNode; role: RoleName; api: Api; token: string }[] = [];
  for (const [i, spec] of w.users.entries()) {
    const node = pick(spec.tenant, spec.node);
    const email = `u${i}.r${run}@iso.test`;
    const user = await ok(
      root.post('/users', { email, name: 'u', password: 'user-password', nodeId: node.id }),
    );
    const role = ((await root.get(`/nodes/${node.id}/roles`)).body as Json[]).find(
      (r) => r.name === spec.role,
    );
    await ok(root.put(`/users/${user.id}/roles/${role.id}`), 200);
    const login = await ok(root.as(undefined).post('/auth/login', { email, password: 'user-password' }), 200);
    users.push({
      tenant: node.tenant,
      node,
      role: spec.role,
      api: root.as(login.accessToken),
      token: login.accessToken,
    });
  }

  const things: { id: string; secret: string; tenant: number }[] = [];
  for (const spec of w.things) {
    const node = pick(spec.tenant, spec.node);
    const r = await ok(root.post('/things', { nodeId: node.id, name: 'thing' }));
    things.push({ id: r.thing.id, secret: r.secret, tenant: node.tenant });
  }
  const channels: { id: string; tenant: number; node: ModelNode }[] = [];
  for (const spec of w.channels) {
    const node = pick(spec.tenant, spec.node);
    const c = await ok(root.post('/channels', { nodeId: node.id, name: 'channel' }));
    channels.push({ id: c.id, tenant: node.tenant, node });
  }
  const connections = new Map<string, { publish: boolean; subscribe: boolean }>();
  for (const spec of w.connections) {
    const thing = things[spec.thing % things.length]!;
    const channel = channels[spec.channel % channels.length]!;
    const rights = { publish: spec.publish, subscribe: spec.subscribe || !spec.publish };
    const r = await root.put(`/channels/${channel.id}/things/${thing.id}`, rights);
    if (thing.tenant === channel.tenant) {
      expect(r.status).toBe(200);
      connections.set(`${thing.id}/${channel.id}`, rights);
    } else {
      // Refused even for the platform operator.
      expect(r.status).toBe(422);
    }
  }
  const assets: { id: string; tenant: number; channels: string[] }[] = [];
  for (const spec of w.assets) {
    const node = pick(spec.tenant, spec.node);
    const a = await ok(root.post('/assets', { nodeId: node.id, name: 'asset', type: 'machine' }));
    const linked = new Set<string>();
    for (const ci of spec.channels) {
      const channel = channels[ci % channels.length]!;
      if (channel.tenant !== node.tenant) continue;
      await ok(root.put(`/assets/${a.id}/channels/${channel.id}`), 200);
      linked.add(channel.id);
    }
    assets.push({ id: a.id, tenant: node.tenant, channels: [...linked] });
  }
  const shares: { asset: string; target: ModelNode; role: string }[] = [];
  if (assets.length > 0) {
    for (const spec of w.shares) {
      const asset = assets[spec.asset % assets.length]!;
      const target = nodes[spec.target % nodes.length]!;
      if (target.tenant === asset.tenant) continue;
      await ok(root.post(`/assets/${asset.id}/shares`, { nodeId: target.id, role: spec.role }));
      // A second share of the same asset to the same organization replaces the role.
      const existing = shares.findIndex((s) => s.asset === asset.id && s.target.id === target.id);
      if (existing >= 0) shares.splice(existing, 1);
      shares.push({ asset: asset.id, target, role: spec.role });
    }
  }
  return { nodes, users, things, channels, connections, assets, shares };
}

it('no read, publish or subscribe crosses a tenant unless an asset share allows that asset', async () => {
  await fc.assert(
    fc.asyncProperty(worldArbitrary, async (w) => {
      const world = await build(t.root, w);
      const authorizer = t.platform.authorizer;

      // Oracle: may a user of role `role` at `node` use `capability` through a share of `assetId`?
      const viaShare = (
        user: (typeof world.users)[number],
        assetId: string,
        capability: 'read' | 'subscribe' | 'publish',
      ) =>
        world.shares.some((s) => {
          if (s.asset !== assetId || !shareAllows(s.role, capability)) return false;
          if (!s.target.lineage.includes(user.node.id)) return false;
          const needed =
            capability === 'read'
              ? 'assets.read'
              : capability === 'publish'
                ? 'messages.publish'
                : 'messages.subscribe';
          return (permissionsUpTo(ROLE_TYPE[user.role]) as string[]).includes(needed);
        });

      for (const [i, user] of world.users.entries()) {
        const auth = await authorizer.authenticate({
          clientId: `iso-u${i}`,
          username: 'token',
          password: Buffer.from(user.token),
          protocol: 'mqtt',
        });
        expect(auth.ok).toBe(true);
        const client: ClientInfo = {
          id: `iso-u${i}`,
          protocol: 'mqtt',
          principal: auth.ok ? auth.principal : undefined,
        };

        // Lists never show another tenant's nodes, things or channels.
        for (const kind of ['nodes', 'things', 'channels'] as const) {
          const page = (await user.api.get(`/${kind}?limit=500`)).body;
          const foreign = page.items.filter(
            (x: Json) =>
              x.tenantId !== world.nodes.find((n) => n.tenant === user.tenant && n.kind === 'tenant')!.id,
          );
          expect(foreign).toEqual([]);
        }
        for (const node of world.nodes.filter((n) => n.tenant !== user.tenant)) {
          expect((await user.api.get(`/nodes/${node.id}`)).status).toBe(404);
        }
        for (const thing of world.things.filter((x) => x.tenant !== user.tenant)) {
          expect((await user.api.get(`/things/${thing.id}`)).status).toBe(404);
        }
        for (const channel of world.channels.filter((c) => c.tenant !== user.tenant)) {
          expect((await user.api.get(`/channels/${channel.id}`)).status).toBe(404);
          const sharedAssets = world.assets.filter((a) => a.channels.includes(channel.id));
          const topic = `channels/${channel.id}/messages/x`;
          const mayPublish = sharedAssets.some((a) => viaShare(user, a.id, 'publish'));
          const maySubscribe = sharedAssets.some((a) => viaShare(user, a.id, 'subscribe'));
          expect(await authorizer.authorizePublish(client, topic)).toBe(mayPublish);
          expect(await authorizer.authorizeSubscribe(client, `channels/${channel.id}/messages/#`)).toBe(
            maySubscribe,
          );
          if (mayPublish) granted.publish++;
          if (maySubscribe) granted.subscribe++;
          const reached = sharedAssets.some((a) =>
            world.shares.some((sh) => sh.asset === a.id && sh.target.lineage.includes(user.node.id)),
          );
          if (reached && !mayPublish) refusedDespiteShare.publish++;
          if (reached && !maySubscribe) refusedDespiteShare.subscribe++;
        }
        for (const asset of world.assets.filter((a) => a.tenant !== user.tenant)) {
          const expected = viaShare(user, asset.id, 'read') ? 200 : 404;
          if (expected === 200) granted.read++;
          expect((await user.api.get(`/assets/${asset.id}`)).status).toBe(expected);
        }
        // Topics outside channels are for SYSTEM-wide permissions only.
        expect(await authorizer.authorizeSubscribe(client, '#')).toBe(false);
        expect(await authorizer.authorizePublish(client, 'anything')).toBe(false);
      }

      for (const [i, thing] of world.things.entries()) {
        const auth = await authorizer.authenticate({
          clientId: `iso-t${i}`,
          username: thing.id,
          password: Buffer.from(thing.secret),
          protocol: 'mqtt',
        });
        expect(auth.ok).toBe(true);
        const client: ClientInfo = {
          id: `iso-t${i}`,
          protocol: 'mqtt',
          principal: auth.ok ? auth.principal : undefined,
        };
        for (const channel of world.channels) {
          const rights = world.connections.get(`${thing.id}/${channel.id}`);
          if (channel.tenant !== thing.tenant) expect(rights).toBeUndefined();
          expect(await authorizer.authorizePublish(client, `channels/${channel.id}/messages/a/b`)).toBe(
            rights?.publish ?? false,
          );
          expect(await authorizer.authorizeSubscribe(client, `channels/${channel.id}/messages/#`)).toBe(
            rights?.subscribe ?? false,
          );
        }
        // The secret alone (HTTP `Thing`, CoAP `?auth=`) finds the same thing.
        const bySecret = await authorizer.authenticate({
          clientId: `iso-s${i}`,
          password: Buffer.from(thing.secret),
          scheme: 'thing',
          protocol: 'http',
        });
        expect(bySecret.ok && (bySecret.principal as { id: string }).id).toBe(thing.id);
      }
    }),
    {
      numRuns: 10,
      endOnFailure: true,
      // One world where a share must open an asset and its channel to another tenant's operator.
      examples: [
        [
          {
            tenants: 2,
            nodes: [],
            users: [{ tenant: 1, node: 0, role: 'manage' }],
            things: [{ tenant: 0, node: 0 }],
            channels: [{ tenant: 0, node: 0 }],
            connections: [{ thing: 0, channel: 0, publish: true, subscribe: false }],
            assets: [{ tenant: 0, node: 0, channels: [0] }],
            shares: [{ asset: 0, target: 1, role: 'operator' }],
          },
        ],
        [
          {
            // A financier share: an ADMIN of the other tenant subscribes but may not publish; a
            // viewer share: nothing but reading; a VIEW user: no publish whatever the share.
            tenants: 3,
            nodes: [],
            users: [
              { tenant: 1, node: 0, role: 'admin' },
              { tenant: 2, node: 0, role: 'admin' },
              { tenant: 2, node: 0, role: 'view' },
            ],
            things: [{ tenant: 0, node: 0 }],
            channels: [{ tenant: 0, node: 0 }],
            connections: [],
            assets: [{ tenant: 0, node: 0, channels: [0] }],
            shares: [
              { asset: 0, target: 1, role: 'financier' },
              { asset: 0, target: 2, role: 'viewer' },
            ],
          },
        ],
      ],
    },
  );
  expect(granted.read).toBeGreaterThan(0);
  expect(granted.publish).toBeGreaterThan(0);
  expect(granted.subscribe).toBeGreaterThan(0);
  expect(refusedDespiteShare.publish).toBeGreaterThan(0);
  expect(refusedDespiteShare.subscribe).toBeGreaterThan(0);
}, 120_000);
