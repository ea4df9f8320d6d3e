/** Personal access tokens of the caller: /users/me/tokens (JSON routes of the management API). */
import { Type } from '@sinclair/typebox';
import { OAuthError, type OAuthServer } from '../../auth/oauth/server.js';
import { defineRoute, type Route } from '../http/route.js';
import { ErrorBody } from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import { ServiceError } from '../services/errors.js';

const Pat = Type.Object({
  id: Type.String(),
  name: Type.String(),
  scopes: Type.Array(Type.String()),
  createdAt: Type.String(),
  expiresAt: Type.String(),
  revokedAt: Type.Union([Type.String(), Type.Null()]),
});

const ScopeToken = Type.String({ pattern: '^[\\x21\\x23-\\x5B\\x5D-\\x7E]+$', maxLength: 128 });

export function patRoutes(oauth: OAuthServer): Route[] {
  return [
    defineRoute({
      method: 'post',
      path: '/users/me/tokens',
      tag: 'auth',
      summary: 'Create a personal access token (named, scoped, expiring); its value is in this answer only',
      auth: 'bearer',
      body: Type.Object(
        {
          name: Type.String({ minLength: 1, maxLength: 100 }),
          scopes: Type.Optional(Type.Array(ScopeToken, { maxItems: 50 })),
          expiresInDays: Type.Integer({ minimum: 1, maximum: 365 }),
        },
        { additionalProperties: false },
      ),
      responses: { 201: Type.Object({ token: Type.String(), pat: Pat }), 409: ErrorBody },
      async handler({ actor, body }) {
        const a = actor as Actor;
        try {
          const created = await oauth.createPat(a.userId, {
            name: body.name,
            scopes: body.scopes ?? [],
            expiresInDays: body.expiresInDays,
          });
          return { status: 201, body: created };
        } catch (err) {
          if (err instanceof OAuthError) throw new ServiceError('unprocessable', err.description);
          if (/unique|UNIQUE/.test((err as Error).message)) {
            throw new ServiceError('conflict', `a token named "${body.name}" exists already`);
          }
          throw err;
        }
      },
    }),
    defineRoute({
      method: 'get',
      path: '/users/me/tokens',
      tag: 'auth',
      summary: 'Your personal access tokens (never their values)',
      auth: 'bearer',
      responses: { 200: Type.Object({ items: Type.Array(Pat) }) },
      async handler({ actor }) {
        return { status: 200, body: { items: await oauth.listPats((actor as Actor).userId) } };
      },
    }),
    defineRoute({
      method: 'delete',
      path: '/users/me/tokens/:tokenId',
      tag: 'auth',
      summary: 'Revoke a personal access token (and the access tokens derived from it) at once',
      auth: 'bearer',
      params: Type.Object({ tokenId: Type.String({ format: 'uuid' }) }),
      responses: { 204: null, 404: ErrorBody },
      async handler({ actor, params }) {
        if (!(await oauth.revokePat((actor as Actor).userId, params.tokenId))) {
          throw new ServiceError('not-found', 'no such token');
        }
        return { status: 204 };
      },
    }),
  ];
}
