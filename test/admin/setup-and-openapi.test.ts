/**
 * First start without a configured administrator (one-time setup token), the OpenAPI document,
 * and the node:http host serving the same API (the fallback where uWebSockets.js cannot load).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeHttpHost } from '../../admin/http/node-host.js';
import { Api, type Json, startPlatform, type TestPlatform } from './harness.js';

let t: TestPlatform;

beforeAll(async () => {
  t = await startPlatform({ admin: false });
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('first start', () => {
  it('logs a one-time setup token that creates the first SUPER administrator once', async () => {
    const bootstrap = t.platform.bootstrap;
    expect(bootstrap.state).toBe('awaiting-setup');
    const token = bootstrap.state === 'awaiting-setup' ? bootstrap.setupToken : '';
    const admin = { email: 'first@omap.test', password: 'first-password', name: 'First' };
    expect((await t.api.post('/setup', { ...admin, token: 'guess' })).status).toBe(401);
    const created = await t.api.post('/setup', { ...admin, token });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ email: 'first@omap.test', kind: 'human', tenantId: null });
    expect((await t.api.post('/setup', { ...admin, email: 'second@omap.test', token })).status).toBe(401);
    const root = await t.api.login(admin.email, admin.password);
    expect((await root.post('/nodes', { kind: 'tenant', name: 'Acme' })).status).toBe(201);
    const me = (await root.get('/auth/me')).body;
    expect(me.grants.every((g: Json) => g.nodeId === null)).toBe(true);
    expect(me.grants.map((g: Json) => g.permission)).toContain('tenants.write');
  });
});

describe('OpenAPI', () => {
  it('/openapi.json describes every route with its schemas, errors and security', async () => {
    const r = await t.api.get('/openapi.json');
    expect(r.status).toBe(200);
    const doc = r.body;
    expect(doc.openapi).toBe('3.1.0');
    const ops = Object.values(doc.paths as Record<string, Record<string, Json>>).flatMap((p) =>
      Object.values(p),
    );
    expect(ops.length).toBe(t.platform.routes.length);
    const getThing = doc.paths['/things/{id}'].get;
    expect(getThing.parameters[0]).toMatchObject({ name: 'id', in: 'path', required: true });
    expect(getThing.responses['200'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Thing',
    });
    expect(getThing.responses['404'].content['application/json'].schema).toEqual({
      $ref: '#/components/schemas/Error',
    });
    expect(getThing.security).toEqual([{ bearer: [] }]);
    const patch = doc.paths['/things/{id}'].patch;
    expect(patch.parameters.map((p: Json) => p.name)).toContain('If-Match');
    expect(patch.responses['412']).toBeDefined();
    const list = doc.paths['/things'].get;
    expect(list.parameters.map((p: Json) => p.name)).toEqual(
      expect.arrayContaining(['limit', 'offset', 'name', 'metadata']),
    );
    expect(doc.components.schemas.Thing.properties).toHaveProperty('metadata');
    expect(doc.components.schemas.Thing.properties).not.toHaveProperty('secret');
    expect(doc.paths['/auth/login'].post.security).toEqual([]);
    // Every $ref resolves.
    const refs = JSON.stringify(doc).match(/#\/components\/schemas\/[A-Za-z]+/g) ?? [];
    for (const ref of new Set(refs)) expect(doc.components.schemas).toHaveProperty(ref.split('/').pop()!);
    const ids = new Set(ops.map((o: Json) => o.operationId));
    expect(ids.size).toBe(ops.length);
  });
});

describe('node:http host', () => {
  it('serves the same routes and conventions', async () => {
    const host = new NodeHttpHost({ maxBodyBytes: 4096 });
    t.platform.mount(host);
    const address = await host.listen(0, '127.0.0.1');
    try {
      const api = new Api(`http://127.0.0.1:${address.port}`);
      expect((await api.get('/openapi.json')).status).toBe(200);
      expect((await api.get('/nodes')).status).toBe(401);
      expect((await api.get('/no/such/route')).status).toBe(404);
      const root = await api.login('first@omap.test', 'first-password');
      const node = await root.post('/nodes', { kind: 'tenant', name: 'Via node:http' });
      expect(node.status).toBe(201);
      expect(node.headers.get('etag')).toBe('"1"');
      expect((await root.get(`/nodes/${node.body.id}`)).body.name).toBe('Via node:http');
      expect((await root.patch(`/nodes/${node.body.id}`, { name: 'x' }, { 'if-match': '"7"' })).status).toBe(
        412,
      );
      expect((await root.del(`/nodes/${node.body.id}`)).status).toBe(204);
      const big = await root.post('/nodes', {
        kind: 'tenant',
        name: 'x',
        metadata: { blob: 'x'.repeat(5000) },
      });
      expect(big.status).toBe(413);
    } finally {
      await host.close();
    }
  });
});
