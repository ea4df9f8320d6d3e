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
export type { Subscriber, SubscriptionOptions } from './core/subscription.js';
export { topicMatches, validateTopicFilter, validateTopicName } from './core/topic.js';
export type { MqttLimits } from './mqtt/options.js';
export type { ListenAddress } from './mqtt/tcp-listener.js';
