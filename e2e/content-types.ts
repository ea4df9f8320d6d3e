/**
 * Content types of end-to-end encrypted traffic.
 *
 * The broker treats both as opaque bytes: it forwards, stores and replays them untouched and never
 * validates them as SenML (it cannot: only consumers hold the keys).
 */

/** An E2E telemetry payload (see payload.ts): a Megolm message prefixed with its session id. */
export const E2E_CONTENT_TYPE = 'application/vnd.omap.megolm.v1';

/** A key-share envelope (see key-share.ts): a Megolm session key sealed to one consumer. */
export const KEY_SHARE_CONTENT_TYPE = 'application/vnd.omap.megolm-keyshare.v1';
