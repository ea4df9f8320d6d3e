/**
 * Management changes reach live clients at once: things and users connected over MQTT (mqtt.js)
 * and HTTP to a broker using the platform authorizer. Rotating a secret or disabling a thing ends
 * its session; removing a connection or revoking a role refuses the next publish and removes the
 * subscription; a human's new login ends the MQTT session of their previous token.
 */
import type { MqttClient } from 'mqtt';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  createTenant,
  type Json,
  startPlatform,
  type TenantFixture,
  type TestPlatform,
} from '../admin/harness.js';
import { closeClient, collect, connectClient, waitFor } from '../helpers.js';

let t: TestPlatform;
let tenant: TenantFixture;
const open: MqttClient[] = [];

beforeAll(async () => {
  t = await startPlatform();
  tenant = await createTenant(t.root, 'Springfield');
}, 60_000);

afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => closeClient(c, true)));
});

afterAll(async () => {
  await t?.close();
});

async function thingOn(channelId: string, rights = { publish: true, subscribe: true }) {
  const { thing, secret } = (
    await tenant.admin.post('/things', { nodeId: tenant.deployment.id, name: 'device' })
  ).body;
  const r = await tenant.admin.put(`/channels/${channelId}/things/${thing.id}`, rights);
  expect(r.status).toBe(200);
  return { thing, secret: secret as string };
}

async function channel(name = 'telemetry') {
  return (await tenant.admin.post('/channels', { nodeId: tenant.customer.id, name })).body;
}

async function mqttAs(username: string | undefined, password: string, clientId: string): Promise<MqttClient> {
  const client = await connectClient(t.mqttUrl, {
    protocolVersion: 5,
    clientId,
    ...(username !== undefined && { username }),
    password,
  });
  open.push(client);
  return client;
}

/** The SUBACK code for one filter (a granted QoS, or a refusal such as 0x87). */
function subscribeCode(client: MqttClient, filter: string, qos: 0 | 1 = 1): Promise<number> {
  return new Promise((resolve, reject) => {
    client.subscribe(filter, { qos }, (err, granted) => {
      const fromError = (err as { packet?: { granted?: (number | { qos: number })[] } } | undefined)?.packet
        ?.granted?.[0];
      if (fromError !== undefined) return resolve(typeof fromError === 'number' ? fromError : fromError.qos);
      if (err) return reject(err);
      resolve(granted![0]!.qos);
    });
  });
}

/** CONNACK reason code of a refused connection. */
async function refusedWith(username: string | undefined, password: string): Promise<number> {
  try {
    const c = await mqttAs(username, password, `refused-${Math.random()}`);
    await closeClient(c, true);
    return 0;
  } catch (err) {
    return (err as { code?: number }).code ?? -1;
  }
}

function httpPublish(channelId: string, authorization: string) {
  return fetch(`http://127.0.0.1:${t.httpPort}/channels/${channelId}/messages/temp`, {
    method: 'POST',
    headers: { authorization, 'content-type': 'application/senml+json' },
    body: '[{"n":"temp","v":21.5}]',
    signal: AbortSignal.timeout(5000),
  });
}

describe('things over MQTT and HTTP', () => {
  it('publish and subscribe follow the connection; other channels are refused', async () => {
    const c = await channel();
    const other = await channel('other');
    const { thing, secret } = await thingOn(c.id);
    const client = await mqttAs(thing.id, secret, 'dev-1');
    expect(await subscribeCode(client, `channels/${c.id}/messages/#`)).toBe(1);
    expect(await subscribeCode(client, `channels/${other.id}/messages/#`)).toBe(0x87);
    expect(await subscribeCode(client, 'channels/+/messages/#')).toBe(0x87);
    await client.publishAsync(`channels/${c.id}/messages/temp`, '21.5', { qos: 1 });
    await expect(
      client.publishAsync(`channels/${other.id}/messages/temp`, 'x', { qos: 1 }),
    ).rejects.toMatchObject({ code: 0x87 });
    await expect(client.publishAsync('elsewhere', 'x', { qos: 1 })).rejects.toMatchObject({ code: 0x87 });
    expect(collect(client).map((m) => m.topic)).toContain(`channels/${c.id}/messages/temp`);
    // HTTP with the secret alone (Thing scheme) and Basic with id:secret.
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(202);
    expect(
      (await httpPublish(c.id, `Basic ${Buffer.from(`${thing.id}:${secret}`).toString('base64')}`)).status,
    ).toBe(202);
    expect((await httpPublish(other.id, `Thing ${secret}`)).status).toBe(403);
    expect((await httpPublish(c.id, 'Thing wrong-secret-wrong-secret-wrong-secret')).status).toBe(401);
  });

  it('a rotated secret disconnects the live session; the old secret no longer connects', async () => {
    const c = await channel();
    const { thing, secret } = await thingOn(c.id);
    const client = await mqttAs(thing.id, secret, 'dev-rotate');
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(202);
    const disconnected = waitFor<{ reasonCode?: number }>(client, 'disconnect');
    const closed = waitFor(client, 'close');
    const rotated = await tenant.admin.post(`/things/${thing.id}/secret`);
    expect(rotated.status).toBe(200);
    expect((await disconnected).reasonCode).toBe(0x98);
    await closed;
    expect(await refusedWith(thing.id, secret)).toBe(0x86);
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(401);
    const again = await mqttAs(thing.id, rotated.body.secret, 'dev-rotate');
    await again.publishAsync(`channels/${c.id}/messages/temp`, '22', { qos: 1 });
    expect((await httpPublish(c.id, `Thing ${rotated.body.secret}`)).status).toBe(202);
  });

  it('a disabled thing is disconnected and refused until enabled again', async () => {
    const c = await channel();
    const { thing, secret } = await thingOn(c.id);
    const client = await mqttAs(thing.id, secret, 'dev-disable');
    const closed = waitFor(client, 'close');
    expect((await tenant.admin.post(`/things/${thing.id}/disable`)).status).toBe(200);
    await closed;
    expect(await refusedWith(thing.id, secret)).toBe(0x87);
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(403);
    await tenant.admin.post(`/things/${thing.id}/enable`);
    await mqttAs(thing.id, secret, 'dev-disable');
  });

  it('a removed connection refuses the next publish and removes the subscription', async () => {
    const c = await channel();
    const keep = await channel('kept');
    const { thing, secret } = await thingOn(c.id);
    await tenant.admin.put(`/channels/${keep.id}/things/${thing.id}`, { subscribe: true, publish: false });
    const witness = await thingOn(c.id);
    const device = await mqttAs(thing.id, secret, 'dev-cut');
    const other = await mqttAs(witness.thing.id, witness.secret, 'dev-witness');
    await device.subscribeAsync(`channels/${c.id}/messages/#`, { qos: 1 });
    await device.subscribeAsync(`channels/${keep.id}/messages/#`, { qos: 1 });
    await other.subscribeAsync(`channels/${c.id}/messages/#`, { qos: 1 });
    // Warm every cache: the device's publish decision is cached by the broker and the authorizer.
    await device.publishAsync(`channels/${c.id}/messages/temp`, 'before', { qos: 1 });
    const unsubscribed = waitFor<{ id: string }>(t.broker, 'unsubscribed');
    expect((await tenant.admin.del(`/channels/${c.id}/things/${thing.id}`)).status).toBe(204);
    // The subscription was removed before the API answered.
    expect((await unsubscribed).id).toBe('dev-cut');
    await expect(
      device.publishAsync(`channels/${c.id}/messages/temp`, 'after', { qos: 1 }),
    ).rejects.toMatchObject({ code: 0x87 });
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(403);
    // A message on the cut channel reaches the witness but not the device: the device's next
    // message (on the channel it kept) arrives after it on the same connection, so order proves it.
    const witnessGot = waitFor(other, 'message');
    t.broker.publish({ topic: `channels/${c.id}/messages/temp`, payload: 'cut', qos: 1 });
    await witnessGot;
    const deviceGot = waitFor<string>(device, 'message');
    t.broker.publish({ topic: `channels/${keep.id}/messages/temp`, payload: 'kept', qos: 1 });
    expect(await deviceGot).toBe(`channels/${keep.id}/messages/temp`);
    expect(collect(device).map((m) => m.payload.toString())).not.toContain('cut');
  });

  it('deleting the channel removes every subscription on it', async () => {
    const c = await channel();
    const a = await thingOn(c.id);
    const b = await thingOn(c.id);
    const ca = await mqttAs(a.thing.id, a.secret, 'dev-a');
    const cb = await mqttAs(b.thing.id, b.secret, 'dev-b');
    await ca.subscribeAsync(`channels/${c.id}/messages`, { qos: 0 });
    await cb.subscribeAsync(`$share/g/channels/${c.id}/messages/#`, { qos: 0 });
    const before = t.broker.stats().subscriptions;
    expect((await tenant.admin.del(`/channels/${c.id}`)).status).toBe(204);
    expect(t.broker.stats().subscriptions).toBe(before - 2);
  });
});

describe('strict SenML channels', () => {
  it('refuse invalid SenML before fan-out, from the moment the flag is set', async () => {
    const c = await channel('strict');
    const { thing, secret } = await thingOn(c.id);
    const client = await mqttAs(thing.id, secret, 'dev-strict');
    const topic = `channels/${c.id}/messages/senml`;
    await client.publishAsync(topic, 'not senml', { qos: 1 });
    expect((await tenant.admin.patch(`/channels/${c.id}`, { strictSenml: true })).status).toBe(200);
    await expect(client.publishAsync(topic, 'not senml', { qos: 1 })).rejects.toMatchObject({ code: 0x99 });
    await client.publishAsync(topic, '[{"n":"temp","v":21.5}]', { qos: 1 });
    await client.publishAsync(topic, 'opaque', {
      qos: 1,
      properties: { contentType: 'application/octet-stream' },
    });
    expect((await httpPublish(c.id, `Thing ${secret}`)).status).toBe(202);
    const bad = await fetch(`http://127.0.0.1:${t.httpPort}/channels/${c.id}/messages/x`, {
      method: 'POST',
      headers: { authorization: `Thing ${secret}`, 'content-type': 'application/senml+json' },
      body: '{"not":"a pack"}',
    });
    expect(bad.status).toBe(400);
    expect((await tenant.admin.patch(`/channels/${c.id}`, { strictSenml: false })).status).toBe(200);
    await client.publishAsync(topic, 'not senml', { qos: 1 });
  });
});

describe('users over MQTT', () => {
  async function userWithRole(email: string, roleName: string) {
    const user = (
      await tenant.admin.post('/users', {
        email,
        name: 'u',
        password: 'user-password',
        nodeId: tenant.customer.id,
      })
    ).body;
    const role = ((await tenant.admin.get(`/nodes/${tenant.customer.id}/roles`)).body as Json[]).find(
      (r) => r.name === roleName,
    );
    expect((await tenant.admin.put(`/users/${user.id}/roles/${role.id}`)).status).toBe(200);
    const login = await t.api.post('/auth/login', { email, password: 'user-password' });
    return { user, role, token: login.body.accessToken as string };
  }

  it('a token authenticates; permissions decide; a revoked role removes the subscription', async () => {
    const c = await channel();
    const { user, role, token } = await userWithRole('watcher@springfield.test', 'view');
    const client = await mqttAs('ignored', token, 'app-watcher');
    expect(await subscribeCode(client, `channels/${c.id}/messages/#`)).toBe(1);
    // VIEW subscribes but does not publish.
    await expect(client.publishAsync(`channels/${c.id}/messages/x`, 'x', { qos: 1 })).rejects.toMatchObject({
      code: 0x87,
    });
    // HTTP with the same token as Bearer.
    expect((await httpPublish(c.id, `Bearer ${token}`)).status).toBe(403);
    const before = t.broker.stats().subscriptions;
    expect((await tenant.admin.del(`/users/${user.id}/roles/${role.id}`)).status).toBe(204);
    expect(t.broker.stats().subscriptions).toBe(before - 1);
    expect(await subscribeCode(client, `channels/${c.id}/messages/#`)).toBe(0x87);
  });

  it("a human's new login ends the MQTT session of the previous token", async () => {
    const { token } = await userWithRole('operator@springfield.test', 'manage');
    const c = await channel();
    // mqtt.js sends a password only with a username; the username is not used with a token.
    const client = await mqttAs('token', token, 'app-operator');
    await client.publishAsync(`channels/${c.id}/messages/x`, 'x', { qos: 1 });
    const closed = waitFor(client, 'close');
    expect(
      (await t.api.post('/auth/login', { email: 'operator@springfield.test', password: 'user-password' }))
        .status,
    ).toBe(200);
    await closed;
    expect(await refusedWith('token', token)).toBe(0x86);
  });

  it('an asset share lets another tenant subscribe to the asset channels, and only those', async () => {
    const other = await createTenant(t.root, 'Shelbyville');
    const c = await channel('asset telemetry');
    const unrelated = await channel('unrelated');
    const asset = (
      await tenant.admin.post('/assets', { nodeId: tenant.customer.id, name: 'Boiler', type: 'boiler' })
    ).body;
    await tenant.admin.put(`/assets/${asset.id}/channels/${c.id}`);
    const login = await t.api.post('/auth/login', {
      email: 'admin@shelbyville.test',
      password: 'admin-password',
    });
    const client = await mqttAs('token', login.body.accessToken, 'shelby-app');
    expect(await subscribeCode(client, `channels/${c.id}/messages/#`)).toBe(0x87);
    const share = await tenant.admin.post(`/assets/${asset.id}/shares`, {
      nodeId: other.tenant.id,
      role: 'financier',
    });
    expect(share.status).toBe(201);
    expect(await subscribeCode(client, `channels/${c.id}/messages/#`)).toBe(1);
    expect(await subscribeCode(client, `channels/${unrelated.id}/messages/#`)).toBe(0x87);
    await expect(client.publishAsync(`channels/${c.id}/messages/x`, 'x', { qos: 1 })).rejects.toMatchObject({
      code: 0x87,
    });
    const before = t.broker.stats().subscriptions;
    expect((await tenant.admin.del(`/assets/${asset.id}/shares/${share.body.id}`)).status).toBe(204);
    expect(t.broker.stats().subscriptions).toBe(before - 1);
  });
});
