/**
 * OMAP end-to-end encrypted telemetry: Megolm (libolm-compatible) sessions, HPKE key shares and the
 * device and consumer SDKs. Depends on node:crypto only; imports nothing else from the project.
 * Formats, topics and security properties: e2e/README.md.
 */

export { decodeBase64, encodeBase64 } from './base64.js';
export {
  type AcceptedKeyShare,
  type ConsumerOptions,
  type DecryptedTelemetry,
  E2EConsumer,
  type ExpectedOrigin,
} from './consumer.js';
export { E2E_CONTENT_TYPE, KEY_SHARE_CONTENT_TYPE } from './content-types.js';
export { type DeviceOptions, E2EDevice, type EncryptedTelemetry, type Publication } from './device.js';
export { E2EError, type E2EErrorCode, isE2EError } from './errors.js';
export {
  type HpkeAead,
  HpkeContext,
  type HpkeKeySchedule,
  type HpkeSenderOptions,
  hpkeDeriveKeyPair,
  hpkeOpenBase,
  hpkeSealBase,
  setupBaseReceiver,
  setupBaseSender,
} from './hpke.js';
export { type InboundPlaintext, MegolmInboundSession } from './inbound-session.js';
export {
  type KeyShareHeader,
  type OpenedKeyShare,
  type OpenKeyShareInput,
  openKeyShare,
  readKeyShareHeader,
  recipientKeyId,
  type SealKeyShareInput,
  sealKeyShare,
} from './key-share.js';
export { generateConsumerKeyPair, generateIdentityKeyPair, type RawKeyPair } from './keys.js';
export {
  MegolmOutboundSession,
  type OutboundSessionOptions,
  type OutboundSessionPersistence,
  type OutboundSessionSecrets,
} from './outbound-session.js';
export { encodePayload, type ParsedPayload, parsePayload } from './payload.js';
export { DEFAULT_REPLAY_WINDOW, type ReplayStatus, ReplayWindow } from './replay-window.js';
export {
  DEFAULT_ROTATION_POLICY,
  type RotationPolicy,
  type RotationReason,
  rotationDue,
} from './rotation.js';
export { FileStateStore, MemoryStateStore, type StateStore } from './state-store.js';
export { KEY_SHARE_SUBTOPIC, keyShareTopic, telemetryTopic } from './topics.js';
