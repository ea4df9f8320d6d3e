import { E2EError } from './errors.js';

/**
 * When a device replaces its Megolm session.
 *
 * Megolm gives no backward secrecy within a session: whoever holds the ratchet at index i reads every
 * later message of that session. Rotation bounds what one leaked ratchet (or one consumer removed
 * too late) exposes, at the cost of one key share per consumer per rotation (≈ 450 bytes each).
 * Matrix rotates every 100 messages or 1 week; telemetry is far more frequent than chat, hence the
 * higher count. Removing a consumer always rotates at once, whatever the policy.
 */
export interface RotationPolicy {
  /** Messages per session before a new one starts. */
  readonly maxMessages: number;
  /** Session lifetime in milliseconds before a new one starts. */
  readonly maxAgeMs: number;
}

export const DEFAULT_ROTATION_POLICY: RotationPolicy = Object.freeze({
  maxMessages: 1000,
  maxAgeMs: 24 * 60 * 60 * 1000,
});

export type RotationReason = 'messages' | 'age';

/** Fills in defaults and checks the values. */
export function resolveRotationPolicy(policy: Partial<RotationPolicy> = {}): RotationPolicy {
  const resolved = { ...DEFAULT_ROTATION_POLICY, ...policy };
  if (!Number.isSafeInteger(resolved.maxMessages) || resolved.maxMessages < 1) {
    throw new E2EError('INVALID_ARGUMENT', 'maxMessages must be a positive integer');
  }
  if (!(resolved.maxAgeMs > 0)) throw new E2EError('INVALID_ARGUMENT', 'maxAgeMs must be positive');
  return Object.freeze(resolved);
}

/** Why the session must rotate before sending one more message, or undefined if it need not. */
export function rotationDue(
  policy: RotationPolicy,
  session: { readonly messagesSent: number; readonly createdAt: number },
  now: number,
): RotationReason | undefined {
  if (session.messagesSent >= policy.maxMessages) return 'messages';
  if (now - session.createdAt >= policy.maxAgeMs) return 'age';
  return undefined;
}
