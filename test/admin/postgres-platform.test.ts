/**
 * The whole platform on PostgreSQL (the production engine): REST, a thing over MQTT, and live
 * invalidation, so that nothing above the repositories assumes SQLite.
 */
import { afterAll, beforeAll, expect, it } from 'vitest';
import { closeClient, connectClient, waitFor } from '../helpers.js';
import { createTenant, type Json, startPlatform, type TenantFixture, type TestPlatform } from './harness.js';

let t: TestPlatform;
let tenant: TenantFixture;

beforeAll(async () => {
  t = await startPlatform({ engine: 'postgres', name: 'platform_pg' });
  tenant = await createTenant(t.root, 'Postgres');
}, 90_000);

afterAll(async () => {
  await t?.close();
}, 60_000);

it('runs the management API and the authorizer on PostgreSQL', async () => {
  expect(t.platform.store.engine).toBe('postgres');
  const channel = (
    await tenant.admin.post('/channels', { nodeId: tenant.customer.id, name: 'pg', metadata: { line: 3 } })
  ).body;
  const { thing, secret } = (
    await tenant.admin.post('/things', { nodeId: tenant.deployment.id, name: 'pg-thing' })
  ).body;
  expect((await tenant.admin.put(`/channels/${channel.id}/things/${thing.id}`)).status).toBe(200);
  const meta = encodeURIComponent(JSON.stringify({ line: 3 }));
  expect((await tenant.admin.get(`/channels?metadata=${meta}`)).body.total).toBe(1);
  expect(
    (await tenant.admin.patch(`/channels/${channel.id}`, { name: 'x' }, { 'if-match': '"9"' })).status,
  ).toBe(412);

  const client = await connectClient(t.mqttUrl, {
    protocolVersion: 5,
    clientId: 'pg-dev',
    username: thing.id,
    password: secret,
  });
  try {
    await client.subscribeAsync(`channels/${channel.id}/messages/#`, { qos: 1 });
    await client.publishAsync(`channels/${channel.id}/messages/t`, '1', { qos: 1 });
    const closed = waitFor(client, 'close');
    expect((await tenant.admin.post(`/things/${thing.id}/secret`)).status).toBe(200);
    await closed;
  } finally {
    await closeClient(client, true);
  }
  const audit = (await tenant.admin.get('/audit?limit=100')).body;
  expect(audit.items.map((e: Json) => e.action)).toEqual(
    expect.arrayContaining(['thing.rotate-secret', 'connection.set']),
  );
});
