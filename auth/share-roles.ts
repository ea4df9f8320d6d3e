/**
 * What an asset share lets the *other* organization do. A share carries one role; the role grants
 * capabilities on that one asset (and the channels linked to it). A user of the receiving
 * organization uses a capability only if they also hold the matching permission there: the share
 * says what the organization may do, the user's roles say who in it may.
 *
 * | role        | read asset | write properties | subscribe (telemetry) | publish (commands) |
 * |-------------|:----------:|:----------------:|:---------------------:|:------------------:|
 * | owner       |     ✓      |        ✓         |           ✓           |         ✓          |
 * | operator    |     ✓      |                  |           ✓           |         ✓          |
 * | maintainer  |     ✓      |        ✓         |           ✓           |                    |
 * | producer    |     ✓      |                  |           ✓           |                    |
 * | financier   |     ✓      |                  |           ✓           |                    |
 * | viewer      |     ✓      |                  |                       |                    |
 *
 * Needed permission at the receiving organization: read → `assets.read`, write → `assets.write`,
 * subscribe → `messages.subscribe`, publish → `messages.publish`. Nothing else crosses: the owning
 * organization's nodes, users, things and unrelated channels stay invisible, shares are managed
 * only by the owning organization (`assets.share`), and a share cannot be passed on.
 */
import type { Permission } from './permissions.js';

export type ShareCapability = 'read' | 'write' | 'subscribe' | 'publish';

export const SHARE_ROLES = {
  owner: ['read', 'write', 'subscribe', 'publish'],
  operator: ['read', 'subscribe', 'publish'],
  maintainer: ['read', 'write', 'subscribe'],
  producer: ['read', 'subscribe'],
  financier: ['read', 'subscribe'],
  viewer: ['read'],
} as const satisfies Record<string, readonly ShareCapability[]>;

export type ShareRole = keyof typeof SHARE_ROLES;

export const SHARE_ROLE_NAMES = Object.keys(SHARE_ROLES) as ShareRole[];

export const CAPABILITY_PERMISSION: Record<ShareCapability, Permission> = {
  read: 'assets.read',
  write: 'assets.write',
  subscribe: 'messages.subscribe',
  publish: 'messages.publish',
};

export function shareAllows(role: string, capability: ShareCapability): boolean {
  const capabilities: readonly ShareCapability[] | undefined = (
    SHARE_ROLES as Record<string, readonly ShareCapability[]>
  )[role];
  return capabilities?.includes(capability) ?? false;
}
