/**
 * Device provisioning over HTTP: registration keys for operators (`/provisioning/keys`, bearer) and
 * the device endpoints (`/provision/devices/:serial`, no bearer: the key's id half or the device's
 * current secret). Device answers are JSON with the envelope in base64; refusals are
 * `{error, message}` like everywhere else. The remote address reaches the handlers through
 * `withRemoteAddress` (a host decorator that overwrites a reserved header).
 */
import { Type } from '@sinclair/typebox';
import type { ProvisioningKey } from '../../storage/sql/repositories/provisioning.js';
import type { ApiHandler, ApiRequest, HostMethod, RouteHost } from '../http/host.js';
import { defineRoute, type Route } from '../http/route.js';
import { ErrorBody, Id, IdParams, Name, PageOf, PageQuery, Timestamp } from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { ProvisioningService } from '../services/provisioning.js';

/** Set by `withRemoteAddress` (any value the client sent under this name is replaced). */
export const REMOTE_ADDRESS_HEADER = 'x-omap-remote-address';

/**
 * Wraps a host so that requests under `/provision/` carry the peer's address in
 * `REMOTE_ADDRESS_HEADER` (hosts that know it, like the broker's HTTP front-end, expose
 * `remoteAddress` on the request; otherwise the header is removed).
 */
export function withRemoteAddress(host: RouteHost): RouteHost {
  return {
    route(method: HostMethod, pattern: string, handler: ApiHandler): unknown {
      if (!pattern.startsWith('/provision/')) return host.route(method, pattern, handler);
      return host.route(method, pattern, (request, reply) => {
        const headers: Record<string, string> = { ...request.headers };
        delete headers[REMOTE_ADDRESS_HEADER];
        const address = (request as ApiRequest & { remoteAddress?: unknown }).remoteAddress;
        if (typeof address === 'string' && address !== '') headers[REMOTE_ADDRESS_HEADER] = address;
        const wrapped: ApiRequest = {
          method: request.method,
          path: request.path,
          query: request.query,
          params: request.params,
          headers,
          body: () => request.body(),
        };
        return handler(wrapped, reply);
      });
    },
  };
}

const ChannelTemplate = Type.Union(
  [
    Type.Object(
      {
        mode: Type.Literal('per-device'),
        name: Type.Optional(
          Type.String({ minLength: 1, maxLength: 200, description: '{serial} is replaced' }),
        ),
        strictSenml: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
    Type.Object(
      {
        mode: Type.Literal('shared'),
        channelId: Type.Optional(Id),
        name: Type.Optional(Name),
        strictSenml: Type.Optional(Type.Boolean()),
      },
      { additionalProperties: false },
    ),
  ],
  {
    description:
      'A channel per device (created at registration), or one shared channel (given, or found/created by name)',
  },
);

const RegistrationKey = Type.Object(
  {
    id: Id,
    tenantId: Id,
    nodeId: Id,
    lineageId: Id,
    name: Type.String(),
    status: Type.Union([Type.Literal('active'), Type.Literal('revoked')]),
    expiresAt: Type.Union([Timestamp, Type.Null()]),
    maxDevices: Type.Union([Type.Integer(), Type.Null()]),
    serialPattern: Type.Union([Type.String(), Type.Null()]),
    channelMode: Type.Union([Type.Literal('per-device'), Type.Literal('shared')]),
    channelId: Type.Union([Id, Type.Null()]),
    channelName: Type.Union([Type.String(), Type.Null()]),
    replacedBy: Type.Union([Id, Type.Null()]),
    revokedAt: Type.Union([Timestamp, Type.Null()]),
    devices: Type.Integer({
      description: 'Devices registered with this key and its predecessors/successors',
    }),
    createdAt: Timestamp,
    createdBy: Type.Union([Id, Type.Null()]),
    updatedAt: Timestamp,
    updatedBy: Type.Union([Id, Type.Null()]),
  },
  { $id: 'RegistrationKey' },
);

const IssuedRegistrationKey = Type.Object(
  {
    key: RegistrationKey,
    registrationKey: Type.String({ description: '<idHalf>-<secretHalf>, shown once' }),
    idHalf: Type.String(),
    secretHalf: Type.String(),
  },
  { $id: 'IssuedRegistrationKey' },
);

const NewRegistrationKey = Type.Object(
  {
    nodeId: Id,
    name: Name,
    expiresAt: Type.Optional(Timestamp),
    maxDevices: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000_000 })),
    serialPattern: Type.Optional(Type.String({ minLength: 1, maxLength: 200 })),
    channel: Type.Optional(ChannelTemplate),
  },
  { additionalProperties: false },
);

const DeviceReply = Type.Object(
  {
    thingId: Id,
    channelId: Id,
    serial: Type.String(),
    envelope: Type.String({ description: 'base64 of the envelope (auth/provisioning/README.md)' }),
  },
  { $id: 'ProvisioningReply' },
);

const SerialParams = Type.Object({ serial: Type.String({ minLength: 1, maxLength: 64 }) });

type KeyView = Omit<ProvisioningKey, 'nodePath' | 'idHash' | 'secretSealed'> & { devices: number };

async function keyView(s: ProvisioningService, key: ProvisioningKey): Promise<KeyView> {
  const { nodePath: _p, idHash: _h, secretSealed: _s, ...rest } = key;
  return { ...rest, devices: await s.devicesOfKey(key) };
}

function remoteAddress(headers: Readonly<Record<string, string>>): string | null {
  return headers[REMOTE_ADDRESS_HEADER] ?? null;
}

export function provisioningRoutes(s: ProvisioningService): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/provisioning/keys',
      tag: 'provisioning',
      summary:
        'Create a registration key on a node (things.write, things.secret, channels.write, connections.write); both halves are in this answer only',
      auth: 'bearer',
      body: NewRegistrationKey,
      responses: { 201: IssuedRegistrationKey, 422: ErrorBody },
      async handler({ actor, body }) {
        const issued = await s.createKey(actor as Actor, body);
        return {
          status: 201,
          body: {
            key: await keyView(s, issued.key),
            registrationKey: `${issued.idHalf}-${issued.secretHalf}`,
            idHalf: issued.idHalf,
            secretHalf: issued.secretHalf,
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/provisioning/keys',
      tag: 'provisioning',
      summary: 'List the registration keys you may see (things.read)',
      auth: 'bearer',
      query: Type.Object({ ...PageQuery, nodeId: Type.Optional(Id) }),
      responses: { 200: PageOf(RegistrationKey, 'RegistrationKey') },
      async handler({ actor, query }) {
        const page = await s.listKeys(actor as Actor, query);
        const items: KeyView[] = [];
        for (const k of page.items) items.push(await keyView(s, k));
        return { status: 200, body: { ...page, items } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/provisioning/keys/:id',
      tag: 'provisioning',
      summary: 'Get a registration key (never its halves)',
      auth: 'bearer',
      params: IdParams,
      responses: { 200: RegistrationKey },
      async handler({ actor, params }) {
        return { status: 200, body: await keyView(s, await s.visibleKey(actor as Actor, params.id)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/provisioning/keys/:id/rotate',
      tag: 'provisioning',
      summary:
        'Rotate a registration key: a new key (both halves in this answer only); the old one keeps working for overlapSeconds',
      auth: 'bearer',
      params: IdParams,
      body: Type.Object(
        {
          overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 366 * 86_400, default: 86_400 })),
        },
        { additionalProperties: false },
      ),
      responses: { 201: IssuedRegistrationKey, 422: ErrorBody },
      async handler({ actor, params, body }) {
        const issued = await s.rotateKey(actor as Actor, params.id, body.overlapSeconds ?? 86_400);
        return {
          status: 201,
          body: {
            key: await keyView(s, issued.key),
            previous: await keyView(s, issued.previous),
            registrationKey: `${issued.idHalf}-${issued.secretHalf}`,
            idHalf: issued.idHalf,
            secretHalf: issued.secretHalf,
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/provisioning/keys/:id/revoke',
      tag: 'provisioning',
      summary: 'Revoke a registration key: no new registrations; registered devices keep working',
      auth: 'bearer',
      params: IdParams,
      responses: { 200: RegistrationKey },
      async handler({ actor, params }) {
        return { status: 200, body: await keyView(s, await s.revokeKey(actor as Actor, params.id)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/provision/devices/:serial',
      tag: 'provisioning',
      summary:
        'Device self-registration with the id half of a registration key (?key= or Authorization: Registration <id half>); answers the envelope',
      auth: 'none',
      params: SerialParams,
      query: Type.Object({ key: Type.Optional(Type.String({ maxLength: 200 })) }),
      responses: { 200: DeviceReply, 201: DeviceReply, 401: ErrorBody, 403: ErrorBody },
      async handler({ params, query, headers }) {
        const m = /^Registration\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
        const reply = await s.register({
          serial: params.serial,
          idHalf: query.key ?? m?.[1],
          remoteAddress: remoteAddress(headers),
          via: 'http',
        });
        return {
          status: reply.created ? 201 : 200,
          body: {
            thingId: reply.thingId,
            channelId: reply.channelId,
            serial: params.serial,
            envelope: reply.envelope.toString('base64'),
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/provision/devices/:serial/secret',
      tag: 'provisioning',
      summary:
        'Re-provisioning: a new secret for a registered device, authenticated by its current one (Authorization: Thing <secret>); the envelope is keyed by the current secret',
      auth: 'none',
      params: SerialParams,
      responses: { 200: DeviceReply, 401: ErrorBody, 403: ErrorBody },
      async handler({ params, headers }) {
        const m = /^Thing\s+(\S+)\s*$/i.exec(headers.authorization ?? '');
        const reply = await s.reprovision({
          serial: params.serial,
          secret: m?.[1],
          remoteAddress: remoteAddress(headers),
          via: 'http',
        });
        return {
          status: 200,
          body: {
            thingId: reply.thingId,
            channelId: reply.channelId,
            serial: params.serial,
            envelope: reply.envelope.toString('base64'),
          },
          headers: { 'Cache-Control': 'no-store' },
        };
      },
    }),
  ];
}
