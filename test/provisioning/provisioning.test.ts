/**
 * Device provisioning, the whole story over real HTTP, UDP (CoAP) and MQTT on loopback: an operator
 * creates a registration key over REST; simulated devices that know only their serial and the two
 * key halves register, decrypt their reply, connect and publish; and every refusal is clear.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MqttClient } from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../admin/http/openapi.js';
import { createPlatformBroker, type PlatformBroker } from '../../admin/platform-broker.js';
import { provisioningRoutes } from '../../admin/routes/provisioning.js';
import { unsafePatternReason } from '../../auth/provisioning/keys.js';
import {
  EnvelopeError,
  openEnvelope,
  type ProvisionedCredentials,
  ProvisioningRefused,
  parseRegistrationKey,
  registerOverHttp,
  reprovisionOverHttp,
} from '../../devices/provisioning-client.js';
import {
  ADMIN,
  Api,
  createTenant,
  type Json,
  TEST_PASSWORD_COST,
  type TenantFixture,
} from '../admin/harness.js';
import { RawCoapClient } from '../broker/coap/coap-helpers.js';
import { closeClient, collect, connectClient, until } from '../helpers.js';

let pb: PlatformBroker;
let dataDir: string;
let base: string;
let mqttUrl: string;
let coapPort: number;
let root: Api;
let tenant: TenantFixture;
let other: TenantFixture;
const clients: MqttClient[] = [];

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'omap-provisioning-'));
  pb = await createPlatformBroker(
    { host: '127.0.0.1', mqtt: { port: 0 }, http: { port: 0 }, coap: { port: 0 } },
    { dataDir, passwordCost: TEST_PASSWORD_COST, admin: ADMIN },
  );
  for (const route of pb.platform.coapRoutes) pb.broker.coap!.frontEnd.route(route);
  const addresses = await pb.broker.listen();
  base = `http://127.0.0.1:${addresses.http!.port}`;
  mqttUrl = `mqtt://127.0.0.1:${addresses.mqtt!.port}`;
  coapPort = addresses.coap!.port;
  root = await new Api(base).login(ADMIN.email, ADMIN.password);
  tenant = await createTenant(root, 'Simpsons');
  other = await createTenant(root, 'Flanders');
});

afterAll(async () => {
  for (const c of clients) await closeClient(c, true);
  await pb?.close();
  if (dataDir !== undefined) rmSync(dataDir, { recursive: true, force: true });
});

async function newKey(body: Json = {}): Promise<Json> {
  const r = await tenant.admin.post('/provisioning/keys', {
    nodeId: tenant.deployment.id,
    name: 'thermometers',
    ...body,
  });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body;
}

async function mqttAs(creds: ProvisionedCredentials, clientId: string): Promise<MqttClient> {
  const c = await connectClient(mqttUrl, {
    protocolVersion: 5,
    clientId,
    username: creds.thingId,
    password: creds.secret,
  });
  clients.push(c);
  return c;
}

async function mqttRefused(creds: ProvisionedCredentials): Promise<boolean> {
  try {
    const c = await mqttAs(creds, `refused-${Math.random()}`);
    await closeClient(c, true);
    return false;
  } catch {
    return true;
  }
}

/** A raw device request over HTTP: status and JSON body. */
async function rawRegister(serial: string, query: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${base}/provision/devices/${serial}${query}`, {
    method: 'POST',
    headers,
    signal: AbortSignal.timeout(10_000),
  });
  return { status: res.status, body: (await res.json()) as Json };
}

async function coapRegister(target: string): Promise<{ code: string; payload: Buffer }> {
  const client = await RawCoapClient.open(coapPort);
  try {
    const sent = client.request('POST', target);
    const response = await client.response(sent);
    return { code: response.code, payload: response.payload };
  } finally {
    await client.close();
  }
}

describe('registration keys over REST', () => {
  it('creates a key with two halves, lists and reads it without its halves', async () => {
    const issued = await newKey({ maxDevices: 5, serialPattern: '[0-9]{6,12}' });
    expect(issued.registrationKey).toBe(`${issued.idHalf}-${issued.secretHalf}`);
    expect(issued.key).toMatchObject({
      status: 'active',
      maxDevices: 5,
      channelMode: 'per-device',
      devices: 0,
    });
    const got = await tenant.admin.get(`/provisioning/keys/${issued.key.id}`);
    expect(got.status).toBe(200);
    expect(JSON.stringify(got.body)).not.toContain(issued.secretHalf);
    expect(JSON.stringify(got.body)).not.toContain(issued.idHalf);
    const list = await tenant.admin.get(`/provisioning/keys?nodeId=${tenant.deployment.id}`);
    expect(list.body.items.map((k: Json) => k.id)).toContain(issued.key.id);
  });

  it('is permission-checked: anonymous 401, other tenants 404, unsafe patterns 422', async () => {
    const issued = await newKey();
    expect((await new Api(base).get('/provisioning/keys')).status).toBe(401);
    expect((await other.admin.get(`/provisioning/keys/${issued.key.id}`)).status).toBe(404);
    expect((await other.admin.post(`/provisioning/keys/${issued.key.id}/revoke`)).status).toBe(404);
    const foreign = await other.admin.post('/provisioning/keys', { nodeId: tenant.deployment.id, name: 'x' });
    expect(foreign.status).toBe(404);
    const list = await other.admin.get('/provisioning/keys');
    expect(list.body.items.map((k: Json) => k.id)).not.toContain(issued.key.id);
    const unsafe = await tenant.admin.post('/provisioning/keys', {
      nodeId: tenant.deployment.id,
      name: 'bad',
      serialPattern: '(a+)+$',
    });
    expect(unsafe.status).toBe(422);
    expect(unsafe.body.error).toBe('unprocessable');
    expect(unsafePatternReason('((ab)*c)+')).not.toBeNull();
    expect(unsafePatternReason('(a|b)\\1')).not.toBeNull();
    expect(unsafePatternReason('SN-[0-9]{4}(-[A-Z]+)?')).toBeNull();
  });
});

describe('a device registers', () => {
  it('over HTTP: decrypts its reply, connects over MQTT and publishes; a subscriber receives it', async () => {
    const issued = await newKey({ serialPattern: '[0-9]{6,12}' });
    const serial = '74743827342';
    const creds = await registerOverHttp(base, serial, issued.registrationKey);
    const thing = (await tenant.admin.get(`/things/${creds.thingId}`)).body;
    expect(thing).toMatchObject({ name: serial, nodeId: tenant.deployment.id, status: 'enabled' });
    // An application thing subscribed to the device's channel.
    const app = (await tenant.admin.post('/things', { nodeId: tenant.deployment.id, name: 'app' })).body;
    expect(
      (await tenant.admin.put(`/channels/${creds.channelId}/things/${app.thing.id}`, { subscribe: true }))
        .status,
    ).toBe(200);
    const subscriber = await mqttAs(
      { thingId: app.thing.id, channelId: creds.channelId, secret: app.secret },
      'app-1',
    );
    await subscriber.subscribeAsync(`channels/${creds.channelId}/messages/#`, { qos: 1 });
    const device = await mqttAs(creds, 'thermometer-1');
    await device.publishAsync(`channels/${creds.channelId}/messages/temp`, '21.5', { qos: 1 });
    await until(() => collect(subscriber).length > 0, 5000, 'the published message');
    expect(collect(subscriber)[0]!.payload.toString()).toBe('21.5');

    // Audited: who, what, from where.
    const log = await tenant.admin.get(`/audit?entityId=${creds.thingId}`);
    const entry = log.body.items.find((e: Json) => e.action === 'provisioning.register');
    expect(entry.details).toMatchObject({
      serial,
      keyId: issued.key.id,
      remoteAddress: '127.0.0.1',
      via: 'http',
    });
  });

  it('the same serial again gets the same thing and channel with a fresh secret (the old one stops working)', async () => {
    const issued = await newKey();
    const first = await registerOverHttp(base, 'SN-0001', issued.registrationKey);
    const again = await rawRegister('SN-0001', '', { authorization: `Registration ${issued.idHalf}` });
    expect(again.status).toBe(200);
    const second = openEnvelope(issued.secretHalf, 'SN-0001', Buffer.from(again.body.envelope, 'base64'));
    expect(second.thingId).toBe(first.thingId);
    expect(second.channelId).toBe(first.channelId);
    expect(second.secret).not.toBe(first.secret);
    expect(await mqttRefused(first)).toBe(true);
    await mqttAs(second, 'sn-0001');
    expect((await tenant.admin.get(`/provisioning/keys/${issued.key.id}`)).body.devices).toBe(1);
  });

  it('over CoAP: 2.04 with the binary envelope, then publishes over CoAP', async () => {
    const issued = await newKey({ channel: { mode: 'shared', name: 'coap fleet' } });
    const serial = 'coap-7';
    const r = await coapRegister(`/provision/devices/${serial}?key=${issued.idHalf}`);
    expect(r.code).toBe('2.04');
    const creds = openEnvelope(issued.secretHalf, serial, r.payload);
    expect(creds.channelId).toBe(issued.key.channelId);
    const app = (await tenant.admin.post('/things', { nodeId: tenant.deployment.id, name: 'coap app' })).body;
    await tenant.admin.put(`/channels/${creds.channelId}/things/${app.thing.id}`, { subscribe: true });
    const subscriber = await mqttAs({ ...creds, thingId: app.thing.id, secret: app.secret }, 'coap-app');
    await subscriber.subscribeAsync(`channels/${creds.channelId}/messages`, { qos: 1 });
    const client = await RawCoapClient.open(coapPort);
    try {
      const sent = client.request('POST', `/channels/${creds.channelId}/messages?auth=${creds.secret}`, {
        payload: Buffer.from('hello'),
      });
      expect((await client.response(sent)).code).toBe('2.04');
    } finally {
      await client.close();
    }
    await until(() => collect(subscriber).length > 0, 5000, 'the CoAP message');
    expect(collect(subscriber)[0]!.payload.toString()).toBe('hello');
    const log = await tenant.admin.get(`/audit?entityId=${creds.thingId}`);
    expect(log.body.items.find((e: Json) => e.action === 'provisioning.register').details.via).toBe('coap');
  });

  it('re-provisioning: a new secret authenticated by the current one', async () => {
    const issued = await newKey();
    const creds = await registerOverHttp(base, 'SN-REPRO', issued.registrationKey);
    const renewed = await reprovisionOverHttp(base, 'SN-REPRO', creds.secret);
    expect(renewed.thingId).toBe(creds.thingId);
    expect(renewed.secret).not.toBe(creds.secret);
    expect(await mqttRefused(creds)).toBe(true);
    await mqttAs(renewed, 'sn-repro');
    await expect(reprovisionOverHttp(base, 'SN-REPRO', creds.secret)).rejects.toMatchObject({ status: 401 });
    await expect(reprovisionOverHttp(base, 'SN-OTHER', renewed.secret)).rejects.toMatchObject({
      status: 404,
    });
  });
});

describe('refusals', () => {
  it('a wrong first half: 401 over HTTP, 4.01 over CoAP', async () => {
    const r = await rawRegister('SN-X1', '?key=NOTAKEY');
    expect(r).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: 'unknown registration key' },
    });
    const none = await rawRegister('SN-X1', '');
    expect(none.status).toBe(401);
    const c = await coapRegister('/provision/devices/SN-X1?key=NOTAKEY');
    expect(c.code).toBe('4.01');
    expect(c.payload.toString()).toBe('unknown registration key');
  });

  it('a bad serial, or one the key does not allow', async () => {
    const issued = await newKey({ serialPattern: '[0-9]{6,12}' });
    expect((await rawRegister('SN-1', `?key=${issued.idHalf}`)).status).toBe(403);
    expect((await rawRegister('bad%20serial', `?key=${issued.idHalf}`)).status).toBe(400);
  });

  it('an expired key', async () => {
    const issued = await newKey({ expiresAt: new Date(Date.now() - 1000).toISOString() });
    const r = await rawRegister('SN-EXP', `?key=${issued.idHalf}`);
    expect(r).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: 'the registration key has expired' },
    });
  });

  it('the device limit', async () => {
    const issued = await newKey({ maxDevices: 1 });
    await registerOverHttp(base, 'SN-L1', issued.registrationKey);
    await registerOverHttp(base, 'SN-L1', issued.registrationKey); // the same device again is fine
    const r = await rawRegister('SN-L2', `?key=${issued.idHalf}`);
    expect(r.status).toBe(403);
    expect(r.body.message).toContain('maximum number of devices');
    const c = await coapRegister(`/provision/devices/SN-L3?key=${issued.idHalf}`);
    expect(c.code).toBe('4.03');
  });

  it('a tampered ciphertext, or a reply for another serial, is rejected by the device', async () => {
    const issued = await newKey();
    const r = await rawRegister('SN-T1', `?key=${issued.idHalf}`);
    const envelope = Buffer.from(r.body.envelope, 'base64');
    expect(envelope[0]).toBe(1);
    const tampered = Buffer.from(envelope);
    tampered[40] = tampered[40]! ^ 0x01;
    expect(() => openEnvelope(issued.secretHalf, 'SN-T1', tampered)).toThrow(EnvelopeError);
    expect(() => openEnvelope(issued.secretHalf, 'SN-T2', envelope)).toThrow(EnvelopeError);
    expect(() =>
      openEnvelope(parseRegistrationKey(`${issued.idHalf}-WRONG`).secretHalf, 'SN-T1', envelope),
    ).toThrow(EnvelopeError);
    expect(openEnvelope(issued.secretHalf, 'SN-T1', envelope).thingId).toBe(r.body.thingId);
  });

  it('a replayed request after revocation; registered devices keep working', async () => {
    const issued = await newKey();
    const creds = await registerOverHttp(base, 'SN-R1', issued.registrationKey);
    expect((await tenant.admin.post(`/provisioning/keys/${issued.key.id}/revoke`)).body.status).toBe(
      'revoked',
    );
    const replay = await rawRegister('SN-R1', `?key=${issued.idHalf}`);
    expect(replay).toMatchObject({
      status: 401,
      body: { error: 'unauthorized', message: 'the registration key was revoked' },
    });
    expect((await coapRegister(`/provision/devices/SN-R2?key=${issued.idHalf}`)).code).toBe('4.01');
    await mqttAs(creds, 'sn-r1');
    const log = await tenant.admin.get(`/audit?entityId=${issued.key.id}`);
    expect(log.body.items.map((e: Json) => e.action)).toEqual(
      expect.arrayContaining(['provisioning-key.revoke', 'provisioning.refused']),
    );
  });

  it('a disabled (compromised) device can neither register again nor connect', async () => {
    const issued = await newKey();
    const creds = await registerOverHttp(base, 'SN-D1', issued.registrationKey);
    expect((await tenant.admin.post(`/things/${creds.thingId}/disable`)).status).toBe(200);
    await expect(registerOverHttp(base, 'SN-D1', issued.registrationKey)).rejects.toBeInstanceOf(
      ProvisioningRefused,
    );
    expect((await rawRegister('SN-D1', `?key=${issued.idHalf}`)).status).toBe(403);
    expect(await mqttRefused(creds)).toBe(true);
  });
});

describe('operators', () => {
  it('a deleted device registers as a new thing; its things can be found by key metadata', async () => {
    const issued = await newKey();
    const first = await registerOverHttp(base, 'SN-DEL', issued.registrationKey);
    const found = await tenant.admin.get(
      `/things?metadata=${encodeURIComponent(JSON.stringify({ provisioningKeyId: issued.key.id }))}`,
    );
    expect(found.body.items.map((t: Json) => t.id)).toEqual([first.thingId]);
    expect((await tenant.admin.del(`/things/${first.thingId}`)).status).toBe(204);
    const second = await registerOverHttp(base, 'SN-DEL', issued.registrationKey);
    expect(second.thingId).not.toBe(first.thingId);
    // Its per-device channel is a new one too: the old one (and its history) is left to the operator.
    expect(second.channelId).not.toBe(first.channelId);
  });
});

describe('rotation', () => {
  it('with an overlap both keys work; with none the old one stops; the device limit spans both', async () => {
    const issued = await newKey({ maxDevices: 3 });
    await registerOverHttp(base, 'SN-ROT1', issued.registrationKey);
    const rotated = await tenant.admin.post(`/provisioning/keys/${issued.key.id}/rotate`, {
      overlapSeconds: 3600,
    });
    expect(rotated.status).toBe(201);
    expect(rotated.body.previous.replacedBy).toBe(rotated.body.key.id);
    expect(rotated.body.key.devices).toBe(1);
    await registerOverHttp(base, 'SN-ROT2', issued.registrationKey);
    await registerOverHttp(base, 'SN-ROT3', rotated.body.registrationKey);
    expect((await rawRegister('SN-ROT4', `?key=${rotated.body.idHalf}`)).status).toBe(403);

    const again = await tenant.admin.post(`/provisioning/keys/${rotated.body.key.id}/rotate`, {
      overlapSeconds: 0,
    });
    expect(again.status).toBe(201);
    expect((await rawRegister('SN-ROT1', `?key=${rotated.body.idHalf}`)).status).toBe(401);
    const creds = await registerOverHttp(base, 'SN-ROT1', again.body.registrationKey);
    expect(creds.thingId).toBeDefined();
    expect((await tenant.admin.post(`/provisioning/keys/${issued.key.id}/rotate`, {})).status).toBe(422);
  });
});

describe('OpenAPI', () => {
  it('the provisioning routes describe themselves', () => {
    const doc: Json = openApiDocument(provisioningRoutes(pb.platform.provisioning), {
      title: 't',
      version: '1',
    });
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/provisioning/keys',
        '/provisioning/keys/{id}',
        '/provisioning/keys/{id}/rotate',
        '/provisioning/keys/{id}/revoke',
        '/provision/devices/{serial}',
        '/provision/devices/{serial}/secret',
      ]),
    );
    expect(doc.paths['/provision/devices/{serial}'].post.security).toEqual([]);
  });
});
