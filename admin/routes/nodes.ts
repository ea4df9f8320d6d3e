/** /nodes: the organization tree. */
import { Type } from '@sinclair/typebox';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import { defineRoute, type Route } from '../http/route.js';
import {
  ErrorBody,
  FilterQuery,
  IdParams,
  NewNode,
  Node,
  NodeKind,
  NodePatch,
  PageOf,
  PageQuery,
  Role,
  User,
} from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import { ServiceError } from '../services/errors.js';
import type { Services } from '../services/index.js';
import { listQuery, nodeView } from './views.js';

export function nodeRoutes(s: Services): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/nodes',
      tag: 'nodes',
      summary: 'Create a tenant (no parentId; SYSTEM tenants.write) or a node below a parent (nodes.write)',
      auth: 'bearer',
      body: NewNode,
      responses: { 201: Node, 422: ErrorBody },
      async handler({ actor, body }) {
        const a = actor as Actor;
        const input = { name: body.name, ...(body.metadata && { metadata: body.metadata }) };
        let node: OrgNode;
        if (body.kind === 'tenant') {
          if (body.parentId !== undefined) throw new ServiceError('unprocessable', 'a tenant has no parent');
          node = await s.nodes.createTenant(a, input);
        } else {
          if (body.parentId === undefined)
            throw new ServiceError('unprocessable', `a ${body.kind} needs a parentId`);
          node = await s.nodes.createChild(a, body.parentId, body.kind, input);
        }
        return { status: 201, body: nodeView(node), etag: node.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/nodes',
      tag: 'nodes',
      summary: 'List the nodes you may see (nodes.read)',
      auth: 'bearer',
      query: Type.Object({
        ...FilterQuery,
        parentId: Type.Optional(Type.String()),
        kind: Type.Optional(NodeKind),
      }),
      responses: { 200: PageOf(Node, 'Node') },
      async handler({ actor, query }) {
        const page = await s.nodes.list(actor as Actor, listQuery(query));
        return { status: 200, body: { ...page, items: page.items.map(nodeView) } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/nodes/:id',
      tag: 'nodes',
      summary: 'Get a node',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Node },
      async handler({ actor, params }) {
        const node = await s.nodes.visible(actor as Actor, params.id);
        return { status: 200, body: nodeView(node), etag: node.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/nodes/:id',
      tag: 'nodes',
      summary: 'Rename a node or replace its metadata (nodes.write; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: NodePatch,
      versioned: true,
      responses: { 200: Node, 412: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const node = await s.nodes.update(actor as Actor, params.id, body, ifMatch);
        return { status: 200, body: nodeView(node), etag: node.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/nodes/:id',
      tag: 'nodes',
      summary: 'Delete an empty node (no children, things, channels or assets)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 204: null, 409: ErrorBody },
      async handler({ actor, params, ifMatch }) {
        await s.nodes.delete(actor as Actor, params.id, ifMatch);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/nodes/:id/members',
      tag: 'nodes',
      summary: 'Users who belong to the node (users.read)',
      auth: 'bearer',
      params: IdParams,
      query: Type.Object(PageQuery),
      responses: { 200: PageOf(User, 'User') },
      async handler({ actor, params, query }) {
        return { status: 200, body: await s.users.members(actor as Actor, params.id, query) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/nodes/:id/roles',
      tag: 'nodes',
      summary: "The node's roles (roles.read)",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Role) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.roles.list(actor as Actor, params.id) };
      },
    }),
  ];
}
