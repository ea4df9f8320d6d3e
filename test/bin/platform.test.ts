/**
 * The whole platform as `omap serve` wires it: management over REST, a thing publishing over MQTT,
 * HTTP and CoAP with its secret, strangers refused, and every accepted message readable from history.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Server, startServer } from '../../bin/server.js';
import { silentLogger } from '../../broker/core/logger.js';
import { run } from '../helpers.js';

let server: Server;
let dataDir: string;
let http: string;
let ports: { mqtt: number; coap: number };

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'omap-platform-'));
  server = await startServer({
    host: '127.0.0.1',
    mqttPort: 0,
    mqtts: false,
    httpPort: 0,
    maxHttpBodyBytes: 65_536,
    coapPort: 0,
    limits: {},
    auth: 'platform',
    dataDir,
    databaseUrl: '',
    questdb: '',
    storeMessages: true,
    metrics: true,
    admin: { email: 'root@example.org', password: 'a long enough password' },
    oauth: { clientsDir: '', pollIntervalMs: 2000, publicUrl: '' },
    logger: silentLogger,
    version: 'test',
  });
  http = `http://127.0.0.1:${server.addresses.http!.port}`;
  ports = { mqtt: server.addresses.mqtt!.port, coap: server.addresses.coap!.port };
});
afterAll(async () => {
  await server.close();
  rmSync(dataDir, { recursive: true, force: true });
});

async function api(method: string, path: string, token: string, body?: unknown) {
  const res = await fetch(`${http}${path}`, {
    method,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    ...(body !== undefined && { body: JSON.stringify(body) }),
  });
  return { status: res.status, body: (await res.json()) as unknown };
}

describe('omap serve with --auth platform', () => {
  it('a thing publishes over MQTT, HTTP and CoAP; history returns what was accepted', async () => {
    const login = await fetch(`${http}/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'root@example.org', password: 'a long enough password' }),
    });
    const token = ((await login.json()) as { accessToken: string }).accessToken;
    const tenant = (await api('POST', '/nodes', token, { name: 'Acme', kind: 'tenant' })).body as {
      id: string;
    };
    const created = (await api('POST', '/things', token, { name: 'meter', nodeId: tenant.id })).body as {
      thing: { id: string };
      secret: string;
    };
    const thing = created.thing.id;
    const secret = created.secret;
    const channel = (
      (await api('POST', '/channels', token, { name: 'energy', nodeId: tenant.id })).body as { id: string }
    ).id;
    expect(
      (await api('PUT', `/channels/${channel}/things/${thing}`, token, { publish: true, subscribe: true }))
        .status,
    ).toBe(200);

    // MQTT with the thing's id and secret; a wrong secret is refused.
    const mqttUrl = `mqtt://127.0.0.1:${ports.mqtt}`;
    const client = await mqtt.connectAsync(mqttUrl, {
      username: thing,
      password: secret,
      reconnectPeriod: 0,
    });
    await client.publishAsync(`channels/${channel}/messages/mqtt`, '[{"n":"e","u":"kWh","v":1}]', { qos: 1 });
    await client.endAsync();
    await expect(
      mqtt.connectAsync(mqttUrl, { username: thing, password: 'wrong', reconnectPeriod: 0 }),
    ).rejects.toThrow();

    // HTTP with `Thing <secret>`; no credentials are refused.
    const post = (auth?: string) =>
      fetch(`${http}/channels/${channel}/messages/http`, {
        method: 'POST',
        headers: { 'content-type': 'application/senml+json', ...(auth && { authorization: auth }) },
        body: '[{"n":"e","u":"kWh","v":2}]',
      });
    expect((await post(`Thing ${secret}`)).status).toBe(202);
    expect((await post()).status).toBe(401);

    // CoAP with ?auth=.
    const coap = await run('coap-client-notls', [
      ...['-m', 'post', '-t', '110', '-e', '[{"n":"e","u":"kWh","v":3}]', '-B', '5'],
      `coap://127.0.0.1:${ports.coap}/channels/${channel}/messages/coap?auth=${secret}`,
    ]);
    expect(coap.code).toBe(0);

    // History: the three accepted readings, in one shape, readable with the thing's secret only.
    const history = async () => {
      const res = await fetch(`${http}/channels/${channel}/messages?order=asc`, {
        headers: { authorization: `Thing ${secret}` },
      });
      return (await res.json()) as {
        total: number;
        messages: { subtopic: string; value: number; protocol: string; publisher: string }[];
      };
    };
    // Stored asynchronously (codec pool, then the history writer): poll, bounded.
    let page = await history();
    const deadline = Date.now() + 10_000;
    while (page.total < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      page = await history();
    }
    expect(page.messages.map((m) => [m.subtopic, m.value, m.protocol])).toEqual([
      ['mqtt', 1, 'mqtt'],
      ['http', 2, 'http'],
      ['coap', 3, 'coap'],
    ]);
    expect(page.messages.every((m) => m.publisher === thing)).toBe(true);
    expect((await fetch(`${http}/channels/${channel}/messages`)).status).toBe(401);

    // GET /metrics (Prometheus): what the storage path did, read from its own counters
    const metrics = await fetch(`${http}/metrics`);
    expect(metrics.status).toBe(200);
    expect(metrics.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await metrics.text();
    const value = (name: string): number => {
      const line = text.split('\n').find((l) => l.startsWith(`${name} `));
      if (line === undefined) throw new Error(`no ${name} in /metrics`);
      return Number(line.slice(name.length + 1));
    };
    expect(value('omap_storage_messages_accepted_total')).toBe(3);
    expect(value('omap_storage_rows_written_total')).toBe(3);
    expect(value('omap_storage_messages_shed_total')).toBe(0);
    expect(value('omap_storage_up')).toBe(1);
    expect(value('omap_mqtt_connections')).toBe(0); // the thing disconnected
    expect(text).toMatch(/^omap_nodejs_eventloop_lag_seconds \d/m); // prom-client's process metrics
  });
});
