/** REST over real HTTP: assets with typed properties, linked channels, and shares with roles. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTenant, type Json, startPlatform, type TenantFixture, type TestPlatform } from './harness.js';

let t: TestPlatform;
let burns: TenantFixture;
let bank: TenantFixture;
let service: TenantFixture;

beforeAll(async () => {
  t = await startPlatform();
  burns = await createTenant(t.root, 'Burns');
  bank = await createTenant(t.root, 'Bank');
  service = await createTenant(t.root, 'Service');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('assets', () => {
  it('typed properties are checked against their declared type', async () => {
    const ok = await burns.admin.post('/assets', {
      nodeId: burns.deployment.id,
      name: 'Reactor 7G',
      type: 'reactor',
      properties: {
        power: { type: 'number', value: 1.21 },
        vendor: { type: 'string', value: 'Burns' },
        safe: { type: 'boolean', value: false },
      },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      type: 'reactor',
      access: 'owner',
      properties: { power: { type: 'number', value: 1.21 } },
    });
    const bad = await burns.admin.post('/assets', {
      nodeId: burns.deployment.id,
      name: 'x',
      type: 'x',
      properties: { power: { type: 'number', value: 'lots' } },
    });
    expect(bad.status).toBe(422);
    expect(
      (
        await burns.admin.post('/assets', {
          nodeId: burns.deployment.id,
          name: 'x',
          type: 'x',
          properties: { p: { type: 'date', value: 1 } },
        })
      ).status,
    ).toBe(400);
    expect((await burns.admin.get('/assets?type=reactor')).body.total).toBe(1);
  });

  it('links channels of its own tenant only', async () => {
    const asset = (
      await burns.admin.post('/assets', { nodeId: burns.customer.id, name: 'Turbine', type: 'turbine' })
    ).body;
    const channel = (
      await burns.admin.post('/channels', { nodeId: burns.customer.id, name: 'turbine telemetry' })
    ).body;
    expect((await burns.admin.put(`/assets/${asset.id}/channels/${channel.id}`)).body).toEqual([channel.id]);
    const foreign = (await bank.admin.post('/channels', { nodeId: bank.customer.id, name: 'foreign' })).body;
    expect((await burns.admin.put(`/assets/${asset.id}/channels/${foreign.id}`)).status).toBe(404);
    expect((await t.root.put(`/assets/${asset.id}/channels/${foreign.id}`)).status).toBe(422);
    expect((await burns.admin.del(`/assets/${asset.id}/channels/${channel.id}`)).status).toBe(204);
    expect((await burns.admin.get(`/assets/${asset.id}/channels`)).body).toEqual([]);
  });

  it('a share lets the other organization do what its role allows, and nothing more', async () => {
    const asset = (
      await burns.admin.post('/assets', {
        nodeId: burns.deployment.id,
        name: 'Generator',
        type: 'generator',
        properties: { hours: { type: 'number', value: 10 } },
      })
    ).body;
    expect((await bank.admin.get(`/assets/${asset.id}`)).status).toBe(404);
    expect((await bank.admin.get('/assets')).body.total).toBe(0);

    const financier = await burns.admin.post(`/assets/${asset.id}/shares`, {
      nodeId: bank.tenant.id,
      role: 'financier',
    });
    expect(financier.status).toBe(201);
    const seen = await bank.admin.get(`/assets/${asset.id}`);
    expect(seen.status).toBe(200);
    expect(seen.body.access).toBe('financier');
    expect((await bank.admin.get('/assets')).body.items.map((a: Json) => a.id)).toEqual([asset.id]);
    // A financier reads, never writes; the share does not open anything else of the owner.
    expect(
      (await bank.admin.patch(`/assets/${asset.id}`, { properties: { hours: { type: 'number', value: 0 } } }))
        .status,
    ).toBe(403);
    expect((await bank.admin.get(`/assets/${asset.id}/shares`)).status).toBe(403);
    expect((await bank.admin.del(`/assets/${asset.id}`)).status).toBe(403);
    expect((await bank.admin.get(`/nodes/${burns.deployment.id}`)).status).toBe(404);

    // A maintainer may change properties, but not the asset's identity.
    await burns.admin.post(`/assets/${asset.id}/shares`, { nodeId: service.customer.id, role: 'maintainer' });
    const fix = await service.admin.patch(`/assets/${asset.id}`, {
      properties: { hours: { type: 'number', value: 0 } },
    });
    expect(fix.status).toBe(200);
    expect(fix.body.properties.hours.value).toBe(0);
    expect((await service.admin.patch(`/assets/${asset.id}`, { name: 'Mine now' })).status).toBe(403);

    // Re-sharing replaces the role; unsharing ends access at once.
    const again = await burns.admin.post(`/assets/${asset.id}/shares`, {
      nodeId: bank.tenant.id,
      role: 'owner',
    });
    expect(again.body.id).toBe(financier.body.id);
    expect((await bank.admin.get(`/assets/${asset.id}`)).body.access).toBe('owner');
    const shares = (await burns.admin.get(`/assets/${asset.id}/shares`)).body as Json[];
    expect(shares.map((s) => s.role).sort()).toEqual(['maintainer', 'owner']);
    expect((await burns.admin.del(`/assets/${asset.id}/shares/${financier.body.id}`)).status).toBe(204);
    expect((await bank.admin.get(`/assets/${asset.id}`)).status).toBe(404);
  });

  it('share rules: known roles only, not with oneself, only by assets.share holders', async () => {
    const asset = (
      await burns.admin.post('/assets', { nodeId: burns.deployment.id, name: 'Pump', type: 'pump' })
    ).body;
    expect(
      (await burns.admin.post(`/assets/${asset.id}/shares`, { nodeId: bank.tenant.id, role: 'thief' }))
        .status,
    ).toBe(400);
    expect(
      (await burns.admin.post(`/assets/${asset.id}/shares`, { nodeId: burns.customer.id, role: 'viewer' }))
        .status,
    ).toBe(422);
    expect(
      (
        await burns.admin.post(`/assets/${asset.id}/shares`, {
          nodeId: '00000000-0000-4000-8000-000000000000',
          role: 'viewer',
        })
      ).status,
    ).toBe(422);
    const user = (
      await burns.admin.post('/users', {
        email: 'smithers@burns.test',
        name: 's',
        password: 'smithers-pw',
        nodeId: burns.deployment.id,
      })
    ).body;
    const manage = ((await burns.admin.get(`/nodes/${burns.deployment.id}/roles`)).body as Json[]).find(
      (r) => r.name === 'manage',
    );
    await burns.admin.put(`/users/${user.id}/roles/${manage.id}`);
    const smithers = await t.api.login('smithers@burns.test', 'smithers-pw');
    expect(
      (await smithers.post(`/assets/${asset.id}/shares`, { nodeId: bank.tenant.id, role: 'viewer' })).status,
    ).toBe(403);
    expect(
      (await smithers.patch(`/assets/${asset.id}`, { name: 'Pump 2' }, { 'if-match': '"1"' })).status,
    ).toBe(200);
    expect(
      (await burns.admin.patch(`/assets/${asset.id}`, { name: 'Pump 3' }, { 'if-match': '"1"' })).status,
    ).toBe(412);
  });
});
