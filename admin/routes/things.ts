/** /things and /channels, and the connections between them. */
import { Type } from '@sinclair/typebox';
import { defineRoute, type Route } from '../http/route.js';
import {
  Channel,
  ChannelPatch,
  Connection,
  ConnectionRights,
  ErrorBody,
  FilterQuery,
  Id,
  IdParams,
  NewChannel,
  NewThing,
  PageOf,
  Status,
  Thing,
  ThingPatch,
  ThingWithSecret,
} from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';
import { channelView, listQuery, thingView } from './views.js';

const ChannelThingParams = Type.Object({ id: Id, thingId: Id });

export function thingRoutes(s: Services): Route[] {
  const statusRoute = (status: 'enabled' | 'disabled') =>
    defineRoute({
      method: 'post',
      path: `/things/:id/${status === 'enabled' ? 'enable' : 'disable'}`,
      tag: 'things',
      summary:
        status === 'enabled'
          ? 'Enable a thing'
          : 'Disable a thing: it is disconnected at once and cannot connect',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Thing },
      async handler({ actor, params, ifMatch }) {
        const thing = await s.things.setStatus(actor as Actor, params.id, status, ifMatch);
        return { status: 200, body: thingView(thing), etag: thing.version };
      },
    });

  return [
    defineRoute({
      method: 'post',
      path: '/things',
      tag: 'things',
      summary: 'Create a thing (things.write on the node); its secret is in this answer only',
      auth: 'bearer',
      body: NewThing,
      responses: { 201: ThingWithSecret },
      async handler({ actor, body }) {
        const { thing, secret } = await s.things.create(actor as Actor, body);
        return { status: 201, body: { thing: thingView(thing), secret }, etag: thing.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/things',
      tag: 'things',
      summary: 'List the things you may see (things.read)',
      auth: 'bearer',
      query: Type.Object({ ...FilterQuery, status: Type.Optional(Status) }),
      responses: { 200: PageOf(Thing, 'Thing') },
      async handler({ actor, query }) {
        const page = await s.things.list(actor as Actor, listQuery(query));
        return { status: 200, body: { ...page, items: page.items.map(thingView) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/things/:id',
      tag: 'things',
      summary: 'Get a thing',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Thing },
      async handler({ actor, params }) {
        const thing = await s.things.visible(actor as Actor, params.id);
        return { status: 200, body: thingView(thing), etag: thing.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/things/:id',
      tag: 'things',
      summary: 'Rename a thing or replace its metadata (things.write; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: ThingPatch,
      versioned: true,
      responses: { 200: Thing, 412: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const thing = await s.things.update(actor as Actor, params.id, body, ifMatch);
        return { status: 200, body: thingView(thing), etag: thing.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/things/:id',
      tag: 'things',
      summary: 'Delete a thing (it is disconnected at once)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 204: null },
      async handler({ actor, params, ifMatch }) {
        await s.things.delete(actor as Actor, params.id, ifMatch);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/things/:id/secret',
      tag: 'things',
      summary: 'Rotate the secret (things.secret): the new one is in this answer only; live connections end',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: ThingWithSecret },
      async handler({ actor, params, ifMatch }) {
        const { thing, secret } = await s.things.rotateSecret(actor as Actor, params.id, ifMatch);
        return { status: 200, body: { thing: thingView(thing), secret }, etag: thing.version };
      },
    }),
    statusRoute('enabled'),
    statusRoute('disabled'),
    defineRoute({
      method: 'get',
      path: '/things/:id/connections',
      tag: 'things',
      summary: "The thing's channel connections",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Connection) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.things.connections(actor as Actor, params.id) };
      },
    }),

    // ---- channels ----

    defineRoute({
      method: 'post',
      path: '/channels',
      tag: 'channels',
      summary: 'Create a channel (channels.write on the node)',
      auth: 'bearer',
      body: NewChannel,
      responses: { 201: Channel },
      async handler({ actor, body }) {
        const channel = await s.channels.create(actor as Actor, body);
        return { status: 201, body: channelView(channel), etag: channel.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/channels',
      tag: 'channels',
      summary: 'List the channels you may see (channels.read)',
      auth: 'bearer',
      query: Type.Object(FilterQuery),
      responses: { 200: PageOf(Channel, 'Channel') },
      async handler({ actor, query }) {
        const page = await s.channels.list(actor as Actor, listQuery(query));
        return { status: 200, body: { ...page, items: page.items.map(channelView) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/channels/:id',
      tag: 'channels',
      summary: 'Get a channel',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Channel },
      async handler({ actor, params }) {
        const channel = await s.channels.visible(actor as Actor, params.id);
        return { status: 200, body: channelView(channel), etag: channel.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/channels/:id',
      tag: 'channels',
      summary: 'Change a channel (channels.write; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: ChannelPatch,
      versioned: true,
      responses: { 200: Channel, 412: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const channel = await s.channels.update(actor as Actor, params.id, body, ifMatch);
        return { status: 200, body: channelView(channel), etag: channel.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/channels/:id',
      tag: 'channels',
      summary: 'Delete a channel (its connections and live subscriptions go)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 204: null },
      async handler({ actor, params, ifMatch }) {
        await s.channels.delete(actor as Actor, params.id, ifMatch);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/channels/:id/connections',
      tag: 'channels',
      summary: "The channel's thing connections",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Connection) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.channels.connections(actor as Actor, params.id) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/channels/:id/things/:thingId',
      tag: 'channels',
      summary: 'Connect a thing (same tenant) with publish and/or subscribe rights (both when omitted)',
      auth: 'bearer',
      params: ChannelThingParams,
      body: ConnectionRights,
      responses: { 200: Connection, 422: ErrorBody },
      async handler({ actor, params, body }) {
        const rights = { publish: body.publish ?? true, subscribe: body.subscribe ?? true };
        return {
          status: 200,
          body: await s.channels.connect(actor as Actor, params.id, params.thingId, rights),
        };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/channels/:id/things/:thingId',
      tag: 'channels',
      summary: "Disconnect: the thing's next publish there is refused and its subscriptions there removed",
      auth: 'bearer',
      params: ChannelThingParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.channels.disconnect(actor as Actor, params.id, params.thingId);
        return { status: 204 };
      },
    }),
  ];
}
