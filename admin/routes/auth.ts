/** /auth, /setup and the public keys: logging in, tokens, first start. */
import { Type } from '@sinclair/typebox';
import { defineRoute, type Route } from '../http/route.js';
import { Credentials, ErrorBody, Membership, SetupRequest, TokenResponse, User } from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';
import { membershipView } from './views.js';

function tokenBody(issued: { token: string; claims: { tokenId: string; expiresAt: number } }) {
  return {
    accessToken: issued.token,
    tokenType: 'Bearer' as const,
    expiresIn: Math.max(0, issued.claims.expiresAt - Math.floor(Date.now() / 1000)),
    tokenId: issued.claims.tokenId,
  };
}

export function authRoutes(s: Services): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/auth/login',
      tag: 'auth',
      summary: 'Interactive login of a human user; revokes their previous token (one live token)',
      auth: 'none',
      body: Credentials,
      responses: { 200: TokenResponse, 401: ErrorBody, 403: ErrorBody },
      async handler({ body }) {
        return { status: 200, body: tokenBody(await s.sessions.login(body.email, body.password)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/tokens',
      tag: 'auth',
      summary: 'API login of a system user: a new token (system users may hold many)',
      auth: 'none',
      body: Credentials,
      responses: { 201: TokenResponse, 401: ErrorBody, 403: ErrorBody },
      async handler({ body }) {
        return { status: 201, body: tokenBody(await s.sessions.apiToken(body.email, body.password)) };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/auth/logout',
      tag: 'auth',
      summary: 'Revoke the token of this request',
      auth: 'bearer',
      responses: { 204: null },
      async handler({ actor }) {
        await s.sessions.logout(actor as Actor);
        return { status: 204 };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/auth/me',
      tag: 'auth',
      summary: 'The caller, their memberships and effective grants',
      auth: 'bearer',
      responses: {
        200: Type.Object({
          user: User,
          memberships: Type.Array(Membership),
          grants: Type.Array(
            Type.Object({ permission: Type.String(), nodeId: Type.Union([Type.String(), Type.Null()]) }),
          ),
        }),
      },
      async handler({ actor }) {
        const a = actor as Actor;
        const { user, memberships } = await s.users.visible(a, a.userId);
        const grants = a.grants.list.map((g) => ({
          permission: g.permission,
          // The last id of the materialized path is the node's.
          nodeId: g.path === null ? null : (g.path.split('/').filter(Boolean).pop() ?? null),
        }));
        return {
          status: 200,
          body: {
            user: s.users.view(a, user, memberships),
            memberships: memberships.map(membershipView),
            grants,
          },
        };
      },
    }),
    defineRoute({
      method: 'post',
      path: '/setup',
      tag: 'auth',
      summary: 'First start: create the first SUPER administrator with the one-time setup token from the log',
      auth: 'none',
      body: SetupRequest,
      responses: { 201: User, 401: ErrorBody, 409: ErrorBody },
      async handler({ body }) {
        const user = await s.setup.complete(body.token, {
          email: body.email,
          password: body.password,
          ...(body.name !== undefined && { name: body.name }),
        });
        const { profile: _profile, ...view } = user;
        return { status: 201, body: view, etag: user.version };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/.well-known/jwks.json',
      tag: 'auth',
      summary: 'The public keys that verify our tokens (JWK Set)',
      auth: 'none',
      responses: { 200: Type.Object({ keys: Type.Array(Type.Record(Type.String(), Type.Unknown())) }) },
      async handler() {
        return { status: 200, body: s.keys.jwks() };
      },
    }),
  ];
}
