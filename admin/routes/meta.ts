/** /permissions, /share-roles and /audit: the catalogue, the share matrix and the audit log. */
import { Type } from '@sinclair/typebox';
import { PERMISSION_NAMES, PERMISSIONS } from '../../auth/permissions.js';
import { SHARE_ROLES } from '../../auth/share-roles.js';
import { defineRoute, type Route } from '../http/route.js';
import { AuditEntry, Id, PageOf, PageQuery, PermissionInfo } from '../http/schemas.js';
import type { Actor } from '../services/actor.js';
import type { Services } from '../services/index.js';

export function metaRoutes(s: Services): Route[] {
  return [
    defineRoute({
      method: 'get',
      path: '/permissions',
      tag: 'meta',
      summary: 'The permission catalogue, with the lowest role type that includes each',
      auth: 'bearer',
      responses: { 200: Type.Array(PermissionInfo) },
      async handler() {
        return { status: 200, body: PERMISSION_NAMES.map((name) => ({ name, ...PERMISSIONS[name] })) };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/share-roles',
      tag: 'meta',
      summary: 'What each asset share role lets the receiving organization do',
      auth: 'bearer',
      responses: { 200: Type.Record(Type.String(), Type.Array(Type.String())) },
      async handler() {
        return { status: 200, body: SHARE_ROLES };
      },
    }),
    defineRoute({
      method: 'get',
      path: '/audit',
      tag: 'meta',
      summary: 'The audit log, newest first (SYSTEM audit.read: everything; a tenant admin: their tenant)',
      auth: 'bearer',
      query: Type.Object({
        ...PageQuery,
        entityId: Type.Optional(Type.String()),
        tenantId: Type.Optional(Id),
      }),
      responses: { 200: PageOf(AuditEntry, 'AuditEntry') },
      async handler({ actor, query }) {
        return { status: 200, body: await s.audit.list(actor as Actor, query) };
      },
    }),
  ];
}
