/**
 * REST over real HTTP: sessions, the organization tree with its default roles, users and
 * memberships, roles and their rules, direct permissions, conventions (paging, filters, ETags,
 * error bodies) and the audit log.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  ADMIN,
  type Api,
  createTenant,
  type Json,
  startPlatform,
  type TenantFixture,
  type TestPlatform,
} from './harness.js';

let t: TestPlatform;
let simpsons: TenantFixture;
let flanders: TenantFixture;

beforeAll(async () => {
  t = await startPlatform();
  simpsons = await createTenant(t.root, 'Simpsons');
  flanders = await createTenant(t.root, 'Flanders');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

async function newUser(
  admin: Api,
  nodeId: string,
  email: string,
  extra: Record<string, unknown> = {},
): Promise<{ user: Json; api: Api }> {
  const r = await admin.post('/users', {
    email,
    name: email.split('@')[0],
    password: 'user-password',
    nodeId,
    ...extra,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  const kind = (extra.kind as string | undefined) ?? 'human';
  if (kind === 'system') {
    const tok = await admin.as(undefined).post('/auth/tokens', { email, password: 'user-password' });
    return { user: r.body, api: admin.as(tok.body.accessToken) };
  }
  return { user: r.body, api: await admin.login(email, 'user-password') };
}

async function roleOf(api: Api, nodeId: string, name: string): Promise<Json> {
  const roles = (await api.get(`/nodes/${nodeId}/roles`)).body as Json[];
  return roles.find((r) => r.name === name);
}

describe('sessions', () => {
  it('a human has one live token: a new login revokes the previous one', async () => {
    const first = await t.api.login(ADMIN.email, ADMIN.password);
    expect((await first.get('/auth/me')).status).toBe(200);
    const second = await t.api.login(ADMIN.email, ADMIN.password);
    const stale = await first.get('/auth/me');
    expect(stale.status).toBe(401);
    expect(stale.body).toEqual({ error: 'unauthorized', message: expect.any(String) });
    expect(stale.headers.get('www-authenticate')).toContain('Bearer');
    expect((await second.get('/auth/me')).status).toBe(200);
    t.root = second;
    // Other users' tokens are untouched.
    expect((await simpsons.admin.get('/auth/me')).status).toBe(200);
  });

  it('system users use the API door and may hold many tokens; humans may not use it', async () => {
    const { user } = await newUser(simpsons.admin, simpsons.tenant.id, 'svc@simpsons.test', {
      kind: 'system',
    });
    expect(user.kind).toBe('system');
    const a = await t.api.post('/auth/tokens', { email: 'svc@simpsons.test', password: 'user-password' });
    const b = await t.api.post('/auth/tokens', { email: 'svc@simpsons.test', password: 'user-password' });
    expect(a.status).toBe(201);
    expect(b.status).toBe(201);
    expect((await t.api.as(a.body.accessToken).get('/auth/me')).status).toBe(200);
    expect((await t.api.as(b.body.accessToken).get('/auth/me')).status).toBe(200);
    expect(
      (await t.api.post('/auth/login', { email: 'svc@simpsons.test', password: 'user-password' })).status,
    ).toBe(403);
    expect((await t.api.post('/auth/tokens', { email: ADMIN.email, password: ADMIN.password })).status).toBe(
      403,
    );
  });

  it('wrong passwords and unknown users get the same 401; logout revokes', async () => {
    const wrong = await t.api.post('/auth/login', { email: ADMIN.email, password: 'nope-nope' });
    const unknown = await t.api.post('/auth/login', { email: 'ghost@omap.test', password: 'nope-nope' });
    expect(wrong.status).toBe(401);
    expect(unknown.status).toBe(401);
    expect(wrong.body.message).toBe(unknown.body.message);
    const { api } = await newUser(simpsons.admin, simpsons.tenant.id, 'bye@simpsons.test');
    expect((await api.post('/auth/logout')).status).toBe(204);
    expect((await api.get('/auth/me')).status).toBe(401);
  });

  it('requests without a token, with garbage, or with a malformed body are refused with {error, message}', async () => {
    expect((await t.api.get('/nodes')).status).toBe(401);
    expect((await t.api.as('not-a-jwt').get('/nodes')).status).toBe(401);
    const notJson = await t.root.request('POST', '/nodes', 'kind=tenant', { 'content-type': 'text/plain' });
    expect(notJson.status).toBe(415);
    const malformed = await t.root.request('POST', '/nodes', '{"kind":', {
      'content-type': 'application/json',
    });
    expect(malformed.status).toBe(400);
    expect(malformed.body.error).toBe('bad-request');
    const unknownField = await t.root.post('/nodes', { kind: 'tenant', name: 'x', colour: 'blue' });
    expect(unknownField.status).toBe(400);
    const badId = await t.root.get('/nodes/not-a-uuid');
    expect(badId.status).toBe(404);
  });
});

describe('organization tree', () => {
  it('tenants, customers and deployments get VIEW/MANAGE/ADMIN roles; units do not', async () => {
    for (const node of [simpsons.tenant, simpsons.customer, simpsons.deployment]) {
      const roles = (await t.root.get(`/nodes/${node.id}/roles`)).body as Json[];
      expect(roles.map((r) => [r.name, r.type, r.isDefault]).sort()).toEqual([
        ['admin', 'ADMIN', true],
        ['manage', 'MANAGE', true],
        ['view', 'VIEW', true],
      ]);
      const view = roles.find((r) => r.type === 'VIEW');
      const manage = roles.find((r) => r.type === 'MANAGE');
      expect(view.permissions).toContain('things.read');
      expect(view.permissions).not.toContain('things.write');
      expect(manage.permissions).toEqual(expect.arrayContaining([...view.permissions, 'things.write']));
    }
    const unit = await simpsons.admin.post('/nodes', {
      kind: 'unit',
      name: 'Kitchen',
      parentId: simpsons.deployment.id,
    });
    expect(unit.status).toBe(201);
    expect((await t.root.get(`/nodes/${unit.body.id}/roles`)).body).toEqual([]);
  });

  it('kinds nest by the rules, and only SYSTEM tenants.write creates tenants', async () => {
    const bad = await simpsons.admin.post('/nodes', {
      kind: 'customer',
      name: 'x',
      parentId: simpsons.deployment.id,
    });
    expect(bad.status).toBe(422);
    expect((await simpsons.admin.post('/nodes', { kind: 'tenant', name: 'mine' })).status).toBe(403);
    expect(
      (await t.root.post('/nodes', { kind: 'tenant', name: 'x', parentId: simpsons.tenant.id })).status,
    ).toBe(422);
    expect((await t.root.post('/nodes', { kind: 'deployment', name: 'orphan' })).status).toBe(422);
  });

  it('lists page with totals and filter by name and metadata', async () => {
    const parent = (
      await simpsons.admin.post('/nodes', { kind: 'customer', name: 'Paging', parentId: simpsons.tenant.id })
    ).body;
    for (let i = 0; i < 5; i++) {
      const r = await simpsons.admin.post('/nodes', {
        kind: 'unit',
        name: `Room ${i}`,
        parentId: parent.id,
        metadata: { floor: i % 2, tag: i === 3 ? 'special' : 'plain' },
      });
      expect(r.status).toBe(201);
    }
    const page = await simpsons.admin.get(`/nodes?parentId=${parent.id}&limit=2&offset=2`);
    expect(page.status).toBe(200);
    expect(page.body).toMatchObject({ total: 5, limit: 2, offset: 2 });
    expect(page.body.items).toHaveLength(2);
    const byName = await simpsons.admin.get(`/nodes?parentId=${parent.id}&name=room%203`);
    expect(byName.body.items.map((n: Json) => n.name)).toEqual(['Room 3']);
    const meta = encodeURIComponent(JSON.stringify({ floor: 1 }));
    expect((await simpsons.admin.get(`/nodes?parentId=${parent.id}&metadata=${meta}`)).body.total).toBe(2);
    const both = encodeURIComponent(JSON.stringify({ floor: 1, tag: 'special' }));
    expect((await simpsons.admin.get(`/nodes?metadata=${both}`)).body.total).toBe(1);
    expect((await simpsons.admin.get('/nodes?metadata=[1]')).status).toBe(400);
    expect((await simpsons.admin.get('/nodes?limit=0')).status).toBe(400);
    // Another tenant sees none of it.
    expect((await flanders.admin.get(`/nodes?parentId=${parent.id}`)).body.total).toBe(0);
  });

  it('ETags and If-Match guard concurrent edits (412), audit fields follow', async () => {
    const node = (
      await simpsons.admin.post('/nodes', { kind: 'unit', name: 'Garage', parentId: simpsons.tenant.id })
    ).body;
    const got = await simpsons.admin.get(`/nodes/${node.id}`);
    expect(got.headers.get('etag')).toBe('"1"');
    expect(got.body).toMatchObject({
      createdBy: simpsons.adminUser.id,
      updatedBy: simpsons.adminUser.id,
      version: 1,
    });
    const renamed = await simpsons.admin.patch(
      `/nodes/${node.id}`,
      { name: 'Garage 2' },
      { 'if-match': '"1"' },
    );
    expect(renamed.status).toBe(200);
    expect(renamed.headers.get('etag')).toBe('"2"');
    const late = await t.root.patch(`/nodes/${node.id}`, { name: 'Garage 3' }, { 'if-match': '"1"' });
    expect(late.status).toBe(412);
    expect(late.body.error).toBe('precondition-failed');
    const blind = await t.root.patch(`/nodes/${node.id}`, { metadata: { a: 1 } });
    expect(blind.body).toMatchObject({ version: 3, updatedBy: expect.any(String), name: 'Garage 2' });
    expect((await t.root.del(`/nodes/${node.id}`, { 'if-match': '"2"' })).status).toBe(412);
    expect((await t.root.del(`/nodes/${node.id}`, { 'if-match': '"3"' })).status).toBe(204);
    expect((await t.root.get(`/nodes/${node.id}`)).status).toBe(404);
  });

  it('a node that still holds something cannot be deleted (409); other tenants see 404', async () => {
    expect((await simpsons.admin.del(`/nodes/${simpsons.customer.id}`)).status).toBe(409);
    expect((await flanders.admin.get(`/nodes/${simpsons.customer.id}`)).status).toBe(404);
    expect((await flanders.admin.patch(`/nodes/${simpsons.customer.id}`, { name: 'mine' })).status).toBe(404);
    expect((await flanders.admin.del(`/nodes/${simpsons.customer.id}`)).status).toBe(404);
  });
});

describe('users, memberships and roles', () => {
  it('extended information is only for users.read-extended (and oneself)', async () => {
    const { user, api: marge } = await newUser(simpsons.admin, simpsons.customer.id, 'marge@simpsons.test', {
      profile: { phone: '555-1234' },
    });
    expect(user.profile).toEqual({ phone: '555-1234' });
    expect((await marge.get(`/users/${user.id}`)).body.profile).toEqual({ phone: '555-1234' });
    const { user: bart, api: bartApi } = await newUser(
      simpsons.admin,
      simpsons.customer.id,
      'bart@simpsons.test',
    );
    const view = await roleOf(simpsons.admin, simpsons.customer.id, 'view');
    expect((await simpsons.admin.put(`/users/${bart.id}/roles/${view.id}`)).status).toBe(200);
    const seen = await bartApi.get(`/users/${user.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body.profile).toBeUndefined();
    const manage = await roleOf(simpsons.admin, simpsons.customer.id, 'manage');
    await simpsons.admin.put(`/users/${bart.id}/roles/${manage.id}`);
    expect((await bartApi.get(`/users/${user.id}`)).body.profile).toEqual({ phone: '555-1234' });
    // Other tenants do not see the user at all.
    expect((await flanders.admin.get(`/users/${user.id}`)).status).toBe(404);
    expect((await flanders.admin.get('/users?name=marge')).body.total).toBe(0);
  });

  it('a user must belong to the node (or above) before a role of that node is assigned', async () => {
    const sibling = (
      await simpsons.admin.post('/nodes', {
        kind: 'customer',
        name: 'Power plant',
        parentId: simpsons.tenant.id,
      })
    ).body;
    const { user: homer } = await newUser(simpsons.admin, simpsons.customer.id, 'homer@simpsons.test');
    // A deployment below the customer Homer belongs to: allowed.
    const deploymentRole = await roleOf(simpsons.admin, simpsons.deployment.id, 'view');
    expect((await simpsons.admin.put(`/users/${homer.id}/roles/${deploymentRole.id}`)).status).toBe(200);
    // A sibling customer: refused until he joins it.
    const plantRole = await roleOf(simpsons.admin, sibling.id, 'manage');
    const refused = await simpsons.admin.put(`/users/${homer.id}/roles/${plantRole.id}`);
    expect(refused.status).toBe(422);
    expect(refused.body.message).toMatch(/belong/);
    expect((await simpsons.admin.put(`/users/${homer.id}/memberships/${sibling.id}`)).status).toBe(200);
    expect((await simpsons.admin.put(`/users/${homer.id}/roles/${plantRole.id}`)).status).toBe(200);
    expect(
      ((await simpsons.admin.get(`/users/${homer.id}/roles`)).body as Json[]).map((r) => r.id).sort(),
    ).toEqual([deploymentRole.id, plantRole.id].sort());
    // Leaving the node drops what was granted there.
    expect((await simpsons.admin.del(`/users/${homer.id}/memberships/${sibling.id}`)).status).toBe(204);
    expect(((await simpsons.admin.get(`/users/${homer.id}/roles`)).body as Json[]).map((r) => r.id)).toEqual([
      deploymentRole.id,
    ]);
    // Joining another tenant's node, or taking a SYSTEM role, is refused.
    expect((await t.root.put(`/users/${homer.id}/memberships/${flanders.customer.id}`)).status).toBe(422);
    const superRole = ((await t.root.get('/roles')).body as Json[]).find((r) => r.name === 'super');
    expect((await t.root.put(`/users/${homer.id}/roles/${superRole.id}`)).status).toBe(422);
  });

  it('custom roles hold only permissions up to their type; default roles are fixed', async () => {
    const node = simpsons.customer.id;
    const tooHigh = await simpsons.admin.post('/roles', {
      nodeId: node,
      name: 'x',
      type: 'VIEW',
      permissions: ['things.write'],
    });
    expect(tooHigh.status).toBe(422);
    const unknown = await simpsons.admin.post('/roles', {
      nodeId: node,
      name: 'x',
      type: 'VIEW',
      permissions: ['fly'],
    });
    expect(unknown.status).toBe(422);
    expect(
      (await simpsons.admin.post('/roles', { nodeId: node, name: 'x', type: 'SUPER', permissions: [] }))
        .status,
    ).toBe(422);
    const ok = await simpsons.admin.post('/roles', {
      nodeId: node,
      name: 'thing-watchers',
      type: 'VIEW',
      permissions: ['things.read', 'channels.read'],
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      type: 'VIEW',
      isDefault: false,
      permissions: ['channels.read', 'things.read'],
    });
    const dup = await simpsons.admin.post('/roles', {
      nodeId: node,
      name: 'thing-watchers',
      type: 'VIEW',
      permissions: [],
    });
    expect(dup.status).toBe(409);
    const patched = await simpsons.admin.patch(
      `/roles/${ok.body.id}`,
      { permissions: ['things.read'] },
      { 'if-match': '"1"' },
    );
    expect(patched.status).toBe(200);
    expect(patched.body.permissions).toEqual(['things.read']);
    const def = await roleOf(simpsons.admin, node, 'view');
    expect((await simpsons.admin.patch(`/roles/${def.id}`, { permissions: [] })).status).toBe(409);
    expect((await simpsons.admin.del(`/roles/${def.id}`)).status).toBe(409);
    expect((await simpsons.admin.del(`/roles/${ok.body.id}`)).status).toBe(204);
    expect((await flanders.admin.get(`/roles/${def.id}`)).status).toBe(404);
  });

  it('nobody grants what they do not hold', async () => {
    const { user: lisa, api: lisaApi } = await newUser(
      simpsons.admin,
      simpsons.customer.id,
      'lisa@simpsons.test',
    );
    const assigner = await simpsons.admin.post('/roles', {
      nodeId: simpsons.customer.id,
      name: 'assigners',
      type: 'ADMIN',
      permissions: ['roles.assign', 'roles.read', 'users.read', 'nodes.read', 'things.read'],
    });
    await simpsons.admin.put(`/users/${lisa.id}/roles/${assigner.body.id}`);
    const { user: maggie } = await newUser(simpsons.admin, simpsons.customer.id, 'maggie@simpsons.test');
    const admin = await roleOf(simpsons.admin, simpsons.customer.id, 'admin');
    const escalate = await lisaApi.put(`/users/${maggie.id}/roles/${admin.id}`);
    expect(escalate.status).toBe(403);
    expect(escalate.body.message).toMatch(/do not hold/);
    // Granting something she holds is fine: directly...
    const direct = await lisaApi.post(`/users/${maggie.id}/permissions`, {
      permission: 'things.read',
      nodeId: simpsons.deployment.id,
    });
    expect(direct.status).toBe(201);
    expect(
      (
        await lisaApi.post(`/users/${maggie.id}/permissions`, {
          permission: 'things.write',
          nodeId: simpsons.customer.id,
        })
      ).status,
    ).toBe(403);
    expect(
      ((await simpsons.admin.get(`/users/${maggie.id}/permissions`)).body as Json[]).map((p) => p.permission),
    ).toEqual(['things.read']);
    expect((await simpsons.admin.del(`/users/${maggie.id}/permissions/${direct.body.id}`)).status).toBe(204);
    // ...and SYSTEM-scoped permissions are for platform users only.
    expect(
      (await t.root.post(`/users/${maggie.id}/permissions`, { permission: 'things.read', nodeId: null }))
        .status,
    ).toBe(422);
  });

  it('writing a user needs users.write over every node they belong to', async () => {
    const { user: apu } = await newUser(simpsons.admin, simpsons.tenant.id, 'apu@simpsons.test');
    const { user: deployAdmin, api: deployAdminApi } = await newUser(
      simpsons.admin,
      simpsons.deployment.id,
      'da@simpsons.test',
    );
    await simpsons.admin.put(
      `/users/${deployAdmin.id}/roles/${(await roleOf(simpsons.admin, simpsons.deployment.id, 'admin')).id}`,
    );
    await simpsons.admin.put(`/users/${apu.id}/memberships/${simpsons.deployment.id}`);
    expect((await deployAdminApi.get(`/users/${apu.id}`)).status).toBe(200);
    const takeover = await deployAdminApi.patch(`/users/${apu.id}`, { password: 'hijacked-password' });
    expect(takeover.status).toBe(403);
    expect((await simpsons.admin.patch(`/users/${apu.id}`, { name: 'Apu N.' })).status).toBe(200);
  });

  it('disabling a user revokes their tokens; they cannot log in until enabled', async () => {
    const { user, api } = await newUser(simpsons.admin, simpsons.customer.id, 'ned@simpsons.test');
    expect((await simpsons.admin.post(`/users/${user.id}/disable`)).body.status).toBe('disabled');
    expect((await api.get('/auth/me')).status).toBe(401);
    expect(
      (await t.api.post('/auth/login', { email: 'ned@simpsons.test', password: 'user-password' })).status,
    ).toBe(403);
    expect((await simpsons.admin.post(`/users/${user.id}/enable`)).status).toBe(200);
    expect(
      (await t.api.post('/auth/login', { email: 'ned@simpsons.test', password: 'user-password' })).status,
    ).toBe(200);
    expect((await simpsons.admin.post(`/users/${simpsons.adminUser.id}/disable`)).status).toBe(422);
  });

  it('duplicate emails conflict; short passwords are refused; deleted users are gone', async () => {
    expect(
      (
        await simpsons.admin.post('/users', {
          email: 'marge@simpsons.test',
          name: 'x',
          password: 'long-enough',
          nodeId: simpsons.tenant.id,
        })
      ).status,
    ).toBe(409);
    expect(
      (
        await simpsons.admin.post('/users', {
          email: 'new@simpsons.test',
          name: 'x',
          password: 'short',
          nodeId: simpsons.tenant.id,
        })
      ).status,
    ).toBe(422);
    expect(
      (
        await simpsons.admin.post('/users', {
          email: 'not-an-email',
          name: 'x',
          password: 'long-enough',
          nodeId: simpsons.tenant.id,
        })
      ).status,
    ).toBe(400);
    expect(
      (await simpsons.admin.post('/users', { email: 'plat@x.test', name: 'x', password: 'long-enough' }))
        .status,
    ).toBe(403);
    const { user, api } = await newUser(simpsons.admin, simpsons.customer.id, 'gone@simpsons.test');
    expect((await simpsons.admin.del(`/users/${user.id}`)).status).toBe(204);
    expect((await simpsons.admin.get(`/users/${user.id}`)).status).toBe(404);
    expect((await api.get('/auth/me')).status).toBe(401);
  });

  it('/auth/me lists memberships and effective grants', async () => {
    const me = await simpsons.admin.get('/auth/me');
    expect(me.body.user.email).toBe('admin@simpsons.test');
    expect(me.body.memberships.map((m: Json) => m.nodeId)).toEqual([simpsons.tenant.id]);
    expect(me.body.grants).toContainEqual({ permission: 'nodes.write', nodeId: simpsons.tenant.id });
  });
});

describe('catalogue and audit log', () => {
  it('lists the permission catalogue and the share roles', async () => {
    const perms = (await simpsons.admin.get('/permissions')).body as Json[];
    expect(perms).toContainEqual({
      name: 'messages.publish',
      type: 'MANAGE',
      description: expect.any(String),
    });
    expect((await simpsons.admin.get('/share-roles')).body.financier).toEqual(['read', 'subscribe']);
  });

  it('tenant admins read their tenant log, platform operators everything', async () => {
    const mine = await simpsons.admin.get('/audit?limit=500');
    expect(mine.status).toBe(200);
    expect(mine.body.items.length).toBeGreaterThan(5);
    expect(mine.body.items.every((e: Json) => e.tenantId === simpsons.tenant.id)).toBe(true);
    expect(mine.body.items.map((e: Json) => e.action)).toContain('role.assign');
    expect((await simpsons.admin.get(`/audit?tenantId=${flanders.tenant.id}`)).status).toBe(403);
    const all = await t.root.get('/audit?limit=500');
    const tenants = new Set(all.body.items.map((e: Json) => e.tenantId));
    expect(tenants.has(simpsons.tenant.id) && tenants.has(flanders.tenant.id)).toBe(true);
    const { api: viewer, user } = await newUser(simpsons.admin, simpsons.customer.id, 'viewer@simpsons.test');
    await simpsons.admin.put(
      `/users/${user.id}/roles/${(await roleOf(simpsons.admin, simpsons.customer.id, 'admin')).id}`,
    );
    expect((await viewer.get('/audit')).status).toBe(403);
  });
});
