/** /users: users, their memberships, roles and direct permissions. */
import { Type } from '@sinclair/typebox';
import { defineRoute, type Route } from '../http/route.js';
import {
  DirectPermission,
  ErrorBody,
  FilterQuery,
  Id,
  IdParams,
  Membership,
  NewDirectPermission,
  NewUser,
  PageOf,
  Role,
  User,
  UserPatch,
} from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';
import { listQuery, membershipView } from './views.js';

const UserNodeParams = Type.Object({ id: Id, nodeId: Id });
const UserRoleParams = Type.Object({ id: Id, roleId: Id });
const UserGrantParams = Type.Object({ id: Id, grantId: Id });

export function userRoutes(s: Services): Route[] {
  const statusRoute = (status: 'enabled' | 'disabled') =>
    defineRoute({
      method: 'post',
      path: `/users/:id/${status === 'enabled' ? 'enable' : 'disable'}`,
      tag: 'users',
      summary:
        status === 'enabled'
          ? 'Enable a user'
          : 'Disable a user: their tokens are revoked and live sessions ended (users.write)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: User },
      async handler({ actor, params, ifMatch }) {
        const a = actor as Actor;
        const user = await s.users.setStatus(a, params.id, status, ifMatch);
        const { memberships } = await s.users.visible(a, params.id);
        return { status: 200, body: s.users.view(a, user, memberships), etag: user.version };
      },
    });

  return [
    defineRoute({
      method: 'post',
      path: '/users',
      tag: 'users',
      summary: 'Create a user in a node (users.write there), or a platform user without nodeId (SYSTEM)',
      auth: 'bearer',
      body: NewUser,
      responses: { 201: User, 409: ErrorBody, 422: ErrorBody },
      async handler({ actor, body }) {
        const a = actor as Actor;
        const { user, memberships } = await s.users.create(a, {
          email: body.email,
          name: body.name,
          password: body.password,
          kind: body.kind ?? 'human',
          ...(body.nodeId !== undefined && { nodeId: body.nodeId }),
          ...(body.profile !== undefined && { profile: body.profile }),
        });
        return { status: 201, body: s.users.view(a, user, memberships), etag: user.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users',
      tag: 'users',
      summary: 'List the users you may see (users.read); metadata filters the profile',
      auth: 'bearer',
      query: Type.Object(FilterQuery),
      responses: { 200: PageOf(User, 'User') },
      async handler({ actor, query }) {
        const a = actor as Actor;
        const page = await s.users.list(a, listQuery(query));
        const items = await Promise.all(
          page.items.map(async (u) => s.users.view(a, u, (await s.users.visible(a, u.id)).memberships)),
        );
        return { status: 200, body: { ...page, items } };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id',
      tag: 'users',
      summary: 'Get a user; `profile` (extended information) only with users.read-extended',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 200: User },
      async handler({ actor, params }) {
        const a = actor as Actor;
        const { user, memberships } = await s.users.visible(a, params.id);
        return { status: 200, body: s.users.view(a, user, memberships), etag: user.version };
      },
    }),
    defineRoute({
      method: 'patch',
      path: '/users/:id',
      tag: 'users',
      summary: 'Change name, profile or password (yourself, or users.write over all their nodes; If-Match)',
      auth: 'bearer',
      params: IdParams,
      body: UserPatch,
      versioned: true,
      responses: { 200: User, 412: ErrorBody },
      async handler({ actor, params, body, ifMatch }) {
        const a = actor as Actor;
        const user = await s.users.update(a, params.id, body, ifMatch);
        const { memberships } = await s.users.visible(a, params.id);
        return { status: 200, body: s.users.view(a, user, memberships), etag: user.version };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id',
      tag: 'users',
      summary: 'Delete a user (their sessions end)',
      auth: 'bearer',
      params: IdParams,
      versioned: true,
      responses: { 204: null },
      async handler({ actor, params, ifMatch }) {
        await s.users.delete(actor as Actor, params.id, ifMatch);
        return { status: 204 };
      },
    }),
    statusRoute('enabled'),
    statusRoute('disabled'),
    defineRoute({
      method: 'get',
      path: '/users/:id/memberships',
      tag: 'users',
      summary: 'Nodes the user belongs to',
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Membership) },
      async handler({ actor, params }) {
        const { memberships } = await s.users.visible(actor as Actor, params.id);
        return { status: 200, body: memberships.map(membershipView) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/users/:id/memberships/:nodeId',
      tag: 'users',
      summary: 'Make the user a member of a node of their tenant (users.write on the node)',
      auth: 'bearer',
      params: UserNodeParams,
      responses: { 200: Type.Array(Membership), 422: ErrorBody },
      async handler({ actor, params }) {
        const list = await s.users.addMembership(actor as Actor, params.id, params.nodeId);
        return { status: 200, body: list.map(membershipView) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id/memberships/:nodeId',
      tag: 'users',
      summary: 'Remove the user from a node; roles and permissions they held only through it go too',
      auth: 'bearer',
      params: UserNodeParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.users.removeMembership(actor as Actor, params.id, params.nodeId);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id/roles',
      tag: 'users',
      summary: "The user's roles",
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(Role) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.roles.rolesOf(actor as Actor, params.id) };
      },
    }),
    defineRoute({
      method: 'put',
      path: '/users/:id/roles/:roleId',
      tag: 'users',
      summary:
        'Assign a role (roles.assign on its scope; the user must belong to its node or above; never beyond your own permissions)',
      auth: 'bearer',
      params: UserRoleParams,
      responses: { 200: Type.Array(Role), 422: ErrorBody },
      async handler({ actor, params }) {
        return { status: 200, body: await s.roles.assign(actor as Actor, params.roleId, params.id) };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id/roles/:roleId',
      tag: 'users',
      summary: 'Revoke a role (live sessions lose what it allowed at once)',
      auth: 'bearer',
      params: UserRoleParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.roles.unassign(actor as Actor, params.roleId, params.id);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/:id/permissions',
      tag: 'users',
      summary: 'Permissions granted to the user directly',
      auth: 'bearer',
      params: IdParams,
      responses: { 200: Type.Array(DirectPermission) },
      async handler({ actor, params }) {
        return { status: 200, body: await s.roles.directOf(actor as Actor, params.id) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/users/:id/permissions',
      tag: 'users',
      summary: 'Grant a permission directly, on a node (or SYSTEM with nodeId null, platform users only)',
      auth: 'bearer',
      params: IdParams,
      body: NewDirectPermission,
      responses: { 201: DirectPermission, 422: ErrorBody },
      async handler({ actor, params, body }) {
        const grant = await s.roles.grantDirect(
          actor as Actor,
          params.id,
          body.permission,
          body.nodeId ?? null,
        );
        return { status: 201, body: grant };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/:id/permissions/:grantId',
      tag: 'users',
      summary: 'Revoke a direct permission',
      auth: 'bearer',
      params: UserGrantParams,
      responses: { 204: null },
      async handler({ actor, params }) {
        await s.roles.revokeDirect(actor as Actor, params.id, params.grantId);
        return { status: 204 };
      },
    }),
  ];
}
