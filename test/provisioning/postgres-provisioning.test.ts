/** Provisioning on PostgreSQL: the migration, key lookup, registration and the device limit. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openEnvelope } from '../../devices/provisioning-client.js';
import { createTenant, startPlatform, type TenantFixture, type TestPlatform } from '../admin/harness.js';

let t: TestPlatform;
let tenant: TenantFixture;

beforeAll(async () => {
  t = await startPlatform({ engine: 'postgres', name: 'provisioning' });
  tenant = await createTenant(t.root, 'PgCo');
}, 60_000);

afterAll(async () => {
  await t?.close();
});

describe('provisioning on PostgreSQL', () => {
  it('registers, re-registers idempotently, enforces the limit and revocation', async () => {
    const issued = (
      await tenant.admin.post('/provisioning/keys', {
        nodeId: tenant.deployment.id,
        name: 'pg',
        maxDevices: 1,
        expiresAt: new Date(Date.now() + 3_600_000).toISOString(),
      })
    ).body;
    const register = (serial: string) =>
      t.api.post(`/provision/devices/${serial}?key=${issued.idHalf}`, undefined, {});
    const first = await register('PG-1');
    expect(first.status).toBe(201);
    const creds = openEnvelope(issued.secretHalf, 'PG-1', Buffer.from(first.body.envelope, 'base64'));
    expect(creds.thingId).toBe(first.body.thingId);
    const again = await register('PG-1');
    expect(again.status).toBe(200);
    expect(again.body.thingId).toBe(first.body.thingId);
    expect((await register('PG-2')).status).toBe(403);
    const keys = await tenant.admin.get('/provisioning/keys');
    expect(keys.body.items.find((k: { id: string }) => k.id === issued.key.id).devices).toBe(1);
    await tenant.admin.post(`/provisioning/keys/${issued.key.id}/revoke`);
    expect((await register('PG-1')).status).toBe(401);
  });
});
