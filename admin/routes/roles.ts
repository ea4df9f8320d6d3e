/** /roles: custom and default roles of a node, and the SYSTEM roles. */
import { Type } from '@sinclair/typebox';
import { defineRoute, type Route } from '../http/route.js';
import { ErrorBody, Id, IdParams, NewRole, Role, RolePatch } from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';

export function roleRoutes(s: Services): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/roles',
      tag: 'roles',
      summary: "A node's roles (?nodeId=), or the SYSTEM roles without it (roles.read)",
      auth: 'bearer',
      query: Type.Object({ nodeId: Type.Optional(Id) }),
      responses: { 200: Type.Array(Role) },
      async handler({ actor, query }) {
        return { status: 200, body: await s.roles.list(actor as Actor, query.nodeId ?? null) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/roles',
      tag: 'roles',
      summary: 'Create a custom role on a node (or SYSTEM): permissions up to its type only',
      auth: 'bearer',
      body: NewRole,
      responses: { 201: Role, 409: ErrorBody, 422: ErrorBody },
      async handler({ actor, body }) {
        const role = await s.roles.create(actor as Actor, body.nodeId ?? null, {
          name: body.name,
          type: body.type,
          permissions: body.permissions,
        });
        return { status: 201, body: role, etag: role.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/roles/:id',
      tag: 'roles',
      summary: 'Get a role',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: Role },
      async handler({ actor, params }) {
        const { role } = await s.roles.visible(actor as Actor, params.id);
        return { status: 200, body: role, etag: role.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/roles/:id',
      tag: 'roles',
      summary: 'Rename a custom role or replace its permissions (default roles are fixed; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: RolePatch,
      versioned: true,
      responses: { 200: Role, 409: ErrorBody, 412: ErrorBody, 422: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const role = await s.roles.update(actor as Actor, params.id, body, ifMatch);
        return { status: 200, body: role, etag: role.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/roles/:id',
      tag: 'roles',
      summary: 'Delete a custom role',
      auth: 'bearer',
      params: IdParams,
      responses: { 204: null, 409: ErrorBody },
      async handler({ actor, params }) {
        await s.roles.delete(actor as Actor, params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/roles/:id/users',
      tag: 'roles',
      summary: 'Ids of the users holding the role',
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Id) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.roles.holders(actor as Actor, params.id) };
      },
    }),
  ];
}
