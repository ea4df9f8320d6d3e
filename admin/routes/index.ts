/** The whole management API as one route table, and its OpenAPI document at /openapi.json. */

import { openApiDocument } from '../http/openapi.js';
import { defineRoute, type Route } from '../http/route.js';
import type { Services } from '../services/index.js';
import { assetRoutes } from './assets.js';
import { authRoutes } from './auth.js';
import { metaRoutes } from './meta.js';
import { nodeRoutes } from './nodes.js';
import { roleRoutes } from './roles.js';
import { thingRoutes } from './things.js';
import { userRoutes } from './users.js';

export function managementRoutes(services: Services, version = '0.1.0'): Route[] {
  const routes = [
    ...authRoutes(services),
    ...nodeRoutes(services),
    ...userRoutes(services),
    ...roleRoutes(services),
    ...thingRoutes(services),
    ...assetRoutes(services),
    ...metaRoutes(services),
  ];
  let document: unknown = null;
  routes.push(
    defineRoute({
      method: 'get',
      path: '/openapi.json',
      tag: 'meta',
      summary: 'This API as an OpenAPI 3.1 document',
      auth: 'none',
      responses: { 200: null },
      async handler() {
        document ??= openApiDocument(routes, {
          title: 'OMAP management API',
          version,
          description:
            'Organizations, users, roles, things, channels, assets and their shares. JSON everywhere; ' +
            'errors are {error, message}; lists take limit/offset and answer totals; entities carry an ETag ' +
            '(their version) that If-Match checks.',
        });
        return { status: 200, body: document };
      },
    }),
  );
  return routes;
}
