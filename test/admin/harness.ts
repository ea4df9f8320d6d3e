/**
 * A whole platform for tests: management store (SQLite in a temp folder, or a fresh PostgreSQL
 * schema), a broker using the platform authorizer with MQTT and HTTP on ephemeral loopback ports,
 * and the REST API mounted on the broker's HTTP front-end. `api` speaks JSON over real HTTP.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Platform, PlatformOptions } from '../../admin/platform.js';
import { createPlatformBroker } from '../../admin/platform-broker.js';
import type { Broker } from '../../broker/index.js';
import { checkStrict } from '../../codecs/strict.js';
import type { Engine } from '../../storage/sql/engine.js';
import { acquirePostgres, dropSchema, testSchema } from '../storage/pg-server.js';

/** A JSON body as tests read it: loose on purpose (the API validates the shapes, tests assert values). */
// biome-ignore lint/suspicious/noExplicitAny: test assertions read arbitrary JSON
export type Json = any;

export const ADMIN = { email: 'root@omap.test', password: 'root-password' };

/** Fast argon2 for tests (the production default is m=19 MiB, t=2). */
export const TEST_PASSWORD_COST = { memoryCost: 1024, timeCost: 1, parallelism: 1 };

export interface ApiResponse<T = Json> {
  status: number;
  body: T;
  headers: Headers;
}

export class Api {
  constructor(
    readonly base: string,
    readonly token?: string,
  ) {}

  as(token: string | undefined): Api {
    return new Api(this.base, token);
  }

  async request<T = Json>(
    method: string,
    path: string,
    body?: unknown,
    headers: Record<string, string> = {},
  ): Promise<ApiResponse<T>> {
    const h: Record<string, string> = { ...headers };
    if (this.token !== undefined) h.authorization = `Bearer ${this.token}`;
    if (body !== undefined) h['content-type'] ??= 'application/json';
    const res = await fetch(`${this.base}${path}`, {
      method,
      headers: h,
      ...(body !== undefined && { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      signal: AbortSignal.timeout(10_000),
    });
    const text = await res.text();
    let parsed: unknown = text;
    if (text !== '' && (res.headers.get('content-type') ?? '').includes('json')) parsed = JSON.parse(text);
    return { status: res.status, body: parsed as T, headers: res.headers };
  }

  get<T = Json>(path: string, headers?: Record<string, string>) {
    return this.request<T>('GET', path, undefined, headers);
  }
  post<T = Json>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('POST', path, body ?? {}, headers);
  }
  put<T = Json>(path: string, body?: unknown, headers?: Record<string, string>) {
    return this.request<T>('PUT', path, body ?? {}, headers);
  }
  patch<T = Json>(path: string, body: unknown, headers?: Record<string, string>) {
    return this.request<T>('PATCH', path, body, headers);
  }
  del<T = Json>(path: string, headers?: Record<string, string>) {
    return this.request<T>('DELETE', path, undefined, headers);
  }

  /** Logs in a human user; returns an Api acting as them. */
  async login(email: string, password: string): Promise<Api> {
    const r = await this.as(undefined).post('/auth/login', { email, password });
    if (r.status !== 200) throw new Error(`login ${email}: ${r.status} ${JSON.stringify(r.body)}`);
    return this.as(r.body.accessToken);
  }
}

export interface TestPlatform {
  platform: Platform;
  broker: Broker;
  /** Anonymous client. */
  api: Api;
  /** The SUPER administrator. */
  root: Api;
  mqttUrl: string;
  mqttPort: number;
  httpPort: number;
  close(): Promise<void>;
}

export async function startPlatform(
  options: { engine?: Engine; name?: string; platform?: Partial<PlatformOptions>; admin?: boolean } = {},
): Promise<TestPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omap-platform-'));
  const cleanups: (() => Promise<void>)[] = [async () => rmSync(dataDir, { recursive: true, force: true })];
  let databaseUrl: string | undefined;
  let databaseSchema: string | undefined;
  if (options.engine === 'postgres') {
    const server = await acquirePostgres();
    databaseUrl = server.url;
    databaseSchema = testSchema(options.name ?? 'platform');
    const schema = databaseSchema;
    cleanups.unshift(async () => {
      await dropSchema(server.url, schema);
      await server.release();
    });
  }
  const { platform, broker } = await createPlatformBroker(
    { host: '127.0.0.1', mqtt: { port: 0 }, http: { port: 0 } },
    {
      dataDir,
      passwordCost: TEST_PASSWORD_COST,
      senmlCheck: (contentType, payload) => {
        const r = checkStrict(contentType, payload);
        return r.ok ? null : r.error.message;
      },
      ...(options.admin !== false && { admin: ADMIN }),
      ...(databaseUrl !== undefined && { databaseUrl }),
      ...(databaseSchema !== undefined && { databaseSchema }),
      ...options.platform,
    },
  );
  const addresses = await broker.listen();
  const httpPort = addresses.http!.port;
  const mqttPort = addresses.mqtt!.port;
  const api = new Api(`http://127.0.0.1:${httpPort}`);
  const root = options.admin === false ? api : await api.login(ADMIN.email, ADMIN.password);
  return {
    platform,
    broker,
    api,
    root,
    mqttUrl: `mqtt://127.0.0.1:${mqttPort}`,
    mqttPort,
    httpPort,
    async close() {
      await broker.close();
      await platform.close();
      for (const c of cleanups) await c();
    },
  };
}

/** A tenant with a customer and a deployment below it, and an admin user of the tenant. */
export interface TenantFixture {
  tenant: Json;
  customer: Json;
  deployment: Json;
  admin: Api;
  adminUser: Json;
}

export async function createTenant(root: Api, name: string): Promise<TenantFixture> {
  const tenant = (await root.post('/nodes', { kind: 'tenant', name })).body;
  const customer = (
    await root.post('/nodes', { kind: 'customer', name: `${name} customer`, parentId: tenant.id })
  ).body;
  const deployment = (
    await root.post('/nodes', { kind: 'deployment', name: `${name} deployment`, parentId: customer.id })
  ).body;
  const email = `admin@${name.toLowerCase().replace(/[^a-z0-9]/g, '')}.test`;
  const adminUser = (
    await root.post('/users', { email, name: `${name} admin`, password: 'admin-password', nodeId: tenant.id })
  ).body;
  const roles = (await root.get(`/nodes/${tenant.id}/roles`)).body as Json[];
  const adminRole = roles.find((r) => r.name === 'admin');
  const assigned = await root.put(`/users/${adminUser.id}/roles/${adminRole.id}`);
  if (assigned.status !== 200) throw new Error(`assign: ${assigned.status} ${JSON.stringify(assigned.body)}`);
  const admin = await root.login(email, 'admin-password');
  return { tenant, customer, deployment, admin, adminUser };
}
