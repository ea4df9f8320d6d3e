/** REST over real HTTP: things (secret shown once, rotation, status), channels and connections. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
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
let viewer: Api;

beforeAll(async () => {
  t = await startPlatform();
  simpsons = await createTenant(t.root, 'Simpsons');
  flanders = await createTenant(t.root, 'Flanders');
  const user = (
    await simpsons.admin.post('/users', {
      email: 'viewer@simpsons.test',
      name: 'v',
      password: 'viewer-password',
      nodeId: simpsons.customer.id,
    })
  ).body;
  const view = ((await simpsons.admin.get(`/nodes/${simpsons.customer.id}/roles`)).body as Json[]).find(
    (r) => r.name === 'view',
  );
  await simpsons.admin.put(`/users/${user.id}/roles/${view.id}`);
  viewer = await t.api.login('viewer@simpsons.test', 'viewer-password');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('things', () => {
  it('creation returns the secret once; reads never show it', async () => {
    const r = await simpsons.admin.post('/things', {
      nodeId: simpsons.deployment.id,
      name: 'thermometer',
      metadata: { serial: '74743827342' },
    });
    expect(r.status).toBe(201);
    expect(r.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(r.body.thing).toMatchObject({
      name: 'thermometer',
      status: 'enabled',
      tenantId: simpsons.tenant.id,
      version: 1,
    });
    const got = await viewer.get(`/things/${r.body.thing.id}`);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(r.body.secret);
    expect(got.body).not.toHaveProperty('secretHash');
    expect(got.body).not.toHaveProperty('nodePath');
    const meta = encodeURIComponent(JSON.stringify({ serial: '74743827342' }));
    expect((await viewer.get(`/things?metadata=${meta}`)).body.items.map((x: Json) => x.id)).toEqual([
      r.body.thing.id,
    ]);
  });

  it('rotation returns a new secret and bumps the version; status toggles', async () => {
    const { thing, secret } = (
      await simpsons.admin.post('/things', { nodeId: simpsons.customer.id, name: 'meter' })
    ).body;
    const rotated = await simpsons.admin.post(`/things/${thing.id}/secret`, undefined, { 'if-match': '"1"' });
    expect(rotated.status).toBe(200);
    expect(rotated.body.secret).not.toBe(secret);
    expect(rotated.body.thing.version).toBe(2);
    expect(
      (await simpsons.admin.post(`/things/${thing.id}/secret`, undefined, { 'if-match': '"1"' })).status,
    ).toBe(412);
    expect((await simpsons.admin.post(`/things/${thing.id}/disable`)).body.status).toBe('disabled');
    expect((await simpsons.admin.get('/things?status=disabled')).body.items.map((x: Json) => x.id)).toContain(
      thing.id,
    );
    expect((await simpsons.admin.post(`/things/${thing.id}/enable`)).body.status).toBe('enabled');
  });

  it('VIEW reads but cannot write (403); other tenants see nothing (404)', async () => {
    const { thing } = (await simpsons.admin.post('/things', { nodeId: simpsons.customer.id, name: 'lamp' }))
      .body;
    expect((await viewer.post('/things', { nodeId: simpsons.customer.id, name: 'x' })).status).toBe(403);
    expect((await viewer.patch(`/things/${thing.id}`, { name: 'y' })).status).toBe(403);
    expect((await viewer.post(`/things/${thing.id}/secret`)).status).toBe(403);
    expect((await viewer.del(`/things/${thing.id}`)).status).toBe(403);
    expect((await flanders.admin.get(`/things/${thing.id}`)).status).toBe(404);
    expect((await flanders.admin.post(`/things/${thing.id}/secret`)).status).toBe(404);
    expect((await flanders.admin.post('/things', { nodeId: simpsons.customer.id, name: 'x' })).status).toBe(
      404,
    );
    expect((await flanders.admin.get('/things')).body.total).toBe(0);
    // The viewer's customer role does not reach the tenant root's own things.
    const { thing: rootThing } = (
      await simpsons.admin.post('/things', { nodeId: simpsons.tenant.id, name: 'hq' })
    ).body;
    expect((await viewer.get(`/things/${rootThing.id}`)).status).toBe(404);
    expect(
      (await simpsons.admin.patch(`/things/${thing.id}`, { name: 'lamp 2', metadata: { w: 60 } })).body,
    ).toMatchObject({ name: 'lamp 2', metadata: { w: 60 } });
    expect((await simpsons.admin.del(`/things/${thing.id}`)).status).toBe(204);
    expect((await simpsons.admin.get(`/things/${thing.id}`)).status).toBe(404);
  });
});

describe('channels and connections', () => {
  it('channels carry a strict SenML flag and the usual CRUD', async () => {
    const c = await simpsons.admin.post('/channels', {
      nodeId: simpsons.customer.id,
      name: 'temperatures',
      strictSenml: true,
    });
    expect(c.status).toBe(201);
    expect(c.body).toMatchObject({ strictSenml: true, version: 1 });
    expect(
      (await simpsons.admin.patch(`/channels/${c.body.id}`, { strictSenml: false }, { 'if-match': '"1"' }))
        .body.strictSenml,
    ).toBe(false);
    expect((await viewer.get('/channels?name=temper')).body.total).toBe(1);
    expect((await viewer.post('/channels', { nodeId: simpsons.customer.id, name: 'x' })).status).toBe(403);
    expect((await flanders.admin.get(`/channels/${c.body.id}`)).status).toBe(404);
    expect((await simpsons.admin.del(`/channels/${c.body.id}`)).status).toBe(204);
  });

  it('connect with rights (both by default), list both ways, disconnect', async () => {
    const channel = (await simpsons.admin.post('/channels', { nodeId: simpsons.customer.id, name: 'c' }))
      .body;
    const { thing } = (await simpsons.admin.post('/things', { nodeId: simpsons.deployment.id, name: 't' }))
      .body;
    const both = await simpsons.admin.put(`/channels/${channel.id}/things/${thing.id}`);
    expect(both.status).toBe(200);
    expect(both.body).toMatchObject({
      thingId: thing.id,
      channelId: channel.id,
      publish: true,
      subscribe: true,
    });
    const pubOnly = await simpsons.admin.put(`/channels/${channel.id}/things/${thing.id}`, {
      subscribe: false,
    });
    expect(pubOnly.body).toMatchObject({ publish: true, subscribe: false });
    expect(
      (
        await simpsons.admin.put(`/channels/${channel.id}/things/${thing.id}`, {
          publish: false,
          subscribe: false,
        })
      ).status,
    ).toBe(422);
    expect(
      (await viewer.get(`/channels/${channel.id}/connections`)).body.map((c: Json) => c.thingId),
    ).toEqual([thing.id]);
    expect((await viewer.get(`/things/${thing.id}/connections`)).body.map((c: Json) => c.channelId)).toEqual([
      channel.id,
    ]);
    expect((await viewer.put(`/channels/${channel.id}/things/${thing.id}`)).status).toBe(403);
    expect((await simpsons.admin.del(`/channels/${channel.id}/things/${thing.id}`)).status).toBe(204);
    expect((await simpsons.admin.del(`/channels/${channel.id}/things/${thing.id}`)).status).toBe(404);
    expect((await simpsons.admin.get(`/things/${thing.id}/connections`)).body).toEqual([]);
  });

  it('nothing connects across tenants', async () => {
    const mine = (await simpsons.admin.post('/channels', { nodeId: simpsons.customer.id, name: 'mine' }))
      .body;
    const { thing: theirs } = (
      await flanders.admin.post('/things', { nodeId: flanders.customer.id, name: 'theirs' })
    ).body;
    // The tenant admin cannot even see the other tenant's thing.
    expect((await simpsons.admin.put(`/channels/${mine.id}/things/${theirs.id}`)).status).toBe(404);
    // The platform operator sees both, and is refused by the rule.
    const r = await t.root.put(`/channels/${mine.id}/things/${theirs.id}`);
    expect(r.status).toBe(422);
    expect(r.body.message).toMatch(/tenants/);
  });
});
