/** The platform's management layer: the public surface of admin/. */
export { type BrokerControl, BrokerEnforcer } from './broker-enforcer.js';
export type { ApiHandler, ApiReply, ApiRequest, HostMethod, RouteHost } from './http/host.js';
export { mountRoutes } from './http/mount.js';
export { NodeHttpHost, type NodeHttpHostOptions } from './http/node-host.js';
export { openApiDocument } from './http/openapi.js';
export type { ApiResult, HttpMethod, Route } from './http/route.js';
export { createPlatform, type Platform, type PlatformLogger, type PlatformOptions } from './platform.js';
export { createPlatformBroker, type PlatformBroker } from './platform-broker.js';
export { managementRoutes } from './routes/index.js';
export type { Services } from './services/index.js';
export type { BootstrapResult, FirstAdmin } from './services/setup.js';
export { type SenmlCheck, StrictChannels, type StrictChannelsOptions } from './strict-channels.js';
