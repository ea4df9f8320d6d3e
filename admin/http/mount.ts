/** Mounts a route table on a host (the broker's HTTP front-end, or NodeHttpHost). */
import { type DispatchDeps, dispatcher } from './dispatch.js';
import type { RouteHost } from './host.js';
import type { Route } from './route.js';

export function mountRoutes(host: RouteHost, routes: readonly Route[], deps: DispatchDeps): void {
  for (const route of routes) {
    host.route(route.method, route.path, dispatcher(route, deps));
  }
}
