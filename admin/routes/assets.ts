/** /assets: assets, the channels carrying their telemetry, and their shares. */
import { Type } from '@sinclair/typebox';
import { defineRoute, type Route } from '../http/route.js';
import {
  Asset,
  AssetPatch,
  AssetShare,
  ErrorBody,
  FilterQuery,
  Id,
  IdParams,
  NewAsset,
  NewShare,
  PageOf,
} from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';
import { assetView, listQuery } from './views.js';

const AssetChannelParams = Type.Object({ id: Id, channelId: Id });
const AssetShareParams = Type.Object({ id: Id, shareId: Id });

export function assetRoutes(s: Services): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/assets',
      tag: 'assets',
      summary: 'Create an asset with typed properties (assets.write on the node)',
      auth: 'bearer',
      body: NewAsset,
      responses: { 201: Asset, 422: ErrorBody },
      async handler({ actor, body }) {
        const asset = await s.assets.create(actor as Actor, body);
        return { status: 201, body: assetView(asset, 'owner'), etag: asset.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/assets',
      tag: 'assets',
      summary: "Your organizations' assets and those shared with them",
      auth: 'bearer',
      query: Type.Object({ ...FilterQuery, type: Type.Optional(Type.String()) }),
      responses: { 200: PageOf(Asset, 'Asset') },
      async handler({ actor, query }) {
        const page = await s.assets.list(actor as Actor, listQuery(query));
        return { status: 200, body: { ...page, items: page.items.map((a) => assetView(a)) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/assets/:id',
      tag: 'assets',
      summary: 'Get an asset; `access` says whether you own it or through which share role you see it',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Asset },
      async handler({ actor, params }) {
        const { asset, access } = await s.assets.visible(actor as Actor, params.id);
        return { status: 200, body: assetView(asset, access), etag: asset.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/assets/:id',
      tag: 'assets',
      summary:
        'Change an asset (owner: assets.write; through a share: properties only, if its role writes; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: AssetPatch,
      versioned: true,
      responses: { 200: Asset, 412: ErrorBody, 422: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const asset = await s.assets.update(actor as Actor, params.id, body, ifMatch);
        return { status: 200, body: assetView(asset), etag: asset.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/assets/:id',
      tag: 'assets',
      summary: 'Delete an asset (owner only)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 204: null },
      async handler({ actor, params, ifMatch }) {
        await s.assets.delete(actor as Actor, params.id, ifMatch);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/assets/:id/channels',
      tag: 'assets',
      summary: "Ids of the channels carrying the asset's telemetry",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Id) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.assets.channels(actor as Actor, params.id) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/assets/:id/channels/:channelId',
      tag: 'assets',
      summary: 'Link a channel of the same tenant (shares then reach its messages)',
      auth: 'bearer',
      params: AssetChannelParams,
      responses: { 200: Type.Array(Id), 422: ErrorBody },
      async handler({ actor, params }) {
        return { status: 200, body: await s.assets.linkChannel(actor as Actor, params.id, params.channelId) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/assets/:id/channels/:channelId',
      tag: 'assets',
      summary: 'Unlink a channel',
      auth: 'bearer',
      params: AssetChannelParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.assets.unlinkChannel(actor as Actor, params.id, params.channelId);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/assets/:id/shares',
      tag: 'assets',
      summary: "The asset's shares (owner, assets.share)",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(AssetShare) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.assets.shares(actor as Actor, params.id) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/assets/:id/shares',
      tag: 'assets',
      summary: 'Share with another organization (by node id) under a role; re-sharing replaces the role',
      auth: 'bearer',
      params: IdParams,
      body: NewShare,
      responses: { 201: AssetShare, 422: ErrorBody },
      async handler({ actor, params, body }) {
        return { status: 201, body: await s.assets.share(actor as Actor, params.id, body.nodeId, body.role) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/assets/:id/shares/:shareId',
      tag: 'assets',
      summary: 'End a share (the other organization loses access at once)',
      auth: 'bearer',
      params: AssetShareParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.assets.unshare(actor as Actor, params.id, params.shareId);
        return { status: 204 };
      },
    }),
  ];
}
