import { E2EError } from './errors.js';

/**
 * Topic convention for E2E traffic on the platform's channel namespace.
 *
 *   channels/<channelId>/messages[/<subtopic>]            E2E telemetry (application/vnd.omap.megolm.v1)
 *   channels/<channelId>/messages/_keys/<recipientKeyId>  key shares for one consumer key
 *
 * `recipientKeyId` is base64url (22 characters) of the first 16 bytes of SHA-256 of the consumer's
 * X25519 public key: topic-safe, and it names the key, not the consumer's identity. A consumer
 * subscribes to its own key topic; an owner application may watch `.../_keys/+`. The `_keys` level
 * starts with an underscore, which SenML names cannot (RFC 8428 §4.5.1), so it never collides with a
 * data subtopic that mirrors a SenML name.
 */

export const KEY_SHARE_SUBTOPIC = '_keys';

const FORBIDDEN_LEVEL = /[/+#\u0000]/;

function checkLevel(value: string, what: string): void {
  if (value.length === 0 || FORBIDDEN_LEVEL.test(value)) {
    throw new E2EError('INVALID_ARGUMENT', `${what} must be a non-empty topic level without / + # or NUL`);
  }
}

/** `channels/<channelId>/messages[/<subtopic>]` for E2E telemetry. */
export function telemetryTopic(channelId: string, subtopic?: string): string {
  checkLevel(channelId, 'channel id');
  if (subtopic === undefined || subtopic === '') return `channels/${channelId}/messages`;
  for (const level of subtopic.split('/')) checkLevel(level, 'subtopic level');
  if (subtopic.split('/')[0] === KEY_SHARE_SUBTOPIC) {
    throw new E2EError('INVALID_ARGUMENT', `subtopic must not start with ${KEY_SHARE_SUBTOPIC}`);
  }
  return `channels/${channelId}/messages/${subtopic}`;
}

/** `channels/<channelId>/messages/_keys/<recipientKeyId>`: where one consumer's key shares go. */
export function keyShareTopic(channelId: string, recipientKeyId: string): string {
  checkLevel(channelId, 'channel id');
  checkLevel(recipientKeyId, 'recipient key id');
  return `channels/${channelId}/messages/${KEY_SHARE_SUBTOPIC}/${recipientKeyId}`;
}
