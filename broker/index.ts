/** OMAP broker: the public library API. */
export {
  Broker,
  type BrokerLimits,
  type BrokerOptions,
  type BrokerStats,
  createBroker,
  DEFAULT_LIMITS,
  type ListeningAddresses,
  type PublishInput,
} from './broker.js';
export { type CoapOptions, type CoapSettings, DEFAULT_COAP_SETTINGS } from './coap/settings.js';
export type { CoapStats } from './coap/stats.js';
export type { CoapUdpListener } from './coap/udp-listener.js';
export {
  type AuthenticationResult,
  type Authorizer,
  allowAll,
  type ClientInfo,
  type ConnectRequest,
  type PeerCertificateInfo,
  type Protocol,
} from './core/authorizer.js';
export type { BrokerEvents, CoreLimits } from './core/broker-core.js';
export type { Logger } from './core/logger.js';
export { Message, type MessageProperties, type QoS } from './core/message.js';
export type { MessageTap } from './core/message-taps.js';
export type { Subscriber, SubscriptionOptions } from './core/subscription.js';
export { topicMatches, validateTopicFilter, validateTopicName } from './core/topic.js';
export { ACCEPTED_CONTENT_TYPES } from './http/content-type.js';
export type { HttpStats } from './http/context.js';
export type { HttpConnectionCounts, HttpFrontEnd } from './http/http-front-end.js';
export type { HttpOptions } from './http/options.js';
export { HttpError } from './http/respond.js';
export type { RouteHandler, RouteMethod, RouteReply, RouteRequest } from './http/routes.js';
export type { MqttLimits } from './mqtt/options.js';
export type { ListenAddress } from './mqtt/tcp-listener.js';
