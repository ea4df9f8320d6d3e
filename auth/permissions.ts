/**
 * The fixed catalogue of permissions and the role type ladder.
 *
 * Every permission has the lowest role type that carries it: the default VIEW/MANAGE/ADMIN roles of
 * a node hold every permission up to their type (VIEW < MANAGE < ADMIN < SUPER, each includes the
 * lower), and a custom role may only hold permissions up to its own type.
 */
import type { RoleType } from '../storage/sql/schema.js';

export type { RoleType };

export const ROLE_TYPES: readonly RoleType[] = ['VIEW', 'MANAGE', 'ADMIN', 'SUPER'];

export function roleRank(type: RoleType): number {
  return ROLE_TYPES.indexOf(type);
}

export interface PermissionInfo {
  /** The lowest role type that includes it. */
  readonly type: RoleType;
  readonly description: string;
}

export const PERMISSIONS = {
  'nodes.read': { type: 'VIEW', description: 'See the organization nodes' },
  'nodes.write': { type: 'ADMIN', description: 'Create, rename and delete organization nodes below' },
  'users.read': { type: 'VIEW', description: 'See users (id, name, email, kind, status)' },
  'users.read-extended': { type: 'MANAGE', description: "Read users' extended information (profile)" },
  'users.write': { type: 'ADMIN', description: 'Create, edit, disable and delete users; manage memberships' },
  'roles.read': { type: 'VIEW', description: 'See roles and who holds them' },
  'roles.write': { type: 'ADMIN', description: 'Create, edit and delete custom roles' },
  'roles.assign': {
    type: 'ADMIN',
    description: 'Assign roles and direct permissions (never beyond what the assigner holds)',
  },
  'things.read': { type: 'VIEW', description: 'See things' },
  'things.write': { type: 'MANAGE', description: 'Create, edit, enable/disable and delete things' },
  'things.secret': { type: 'MANAGE', description: "Rotate a thing's secret" },
  'channels.read': { type: 'VIEW', description: 'See channels and their connections' },
  'channels.write': { type: 'MANAGE', description: 'Create, edit and delete channels' },
  'connections.write': { type: 'MANAGE', description: 'Connect and disconnect things and channels' },
  'assets.read': { type: 'VIEW', description: 'See assets and their properties' },
  'assets.write': { type: 'MANAGE', description: 'Create, edit and delete assets; link their channels' },
  'assets.share': { type: 'ADMIN', description: 'Share assets with other organizations' },
  'messages.subscribe': { type: 'VIEW', description: 'Receive the messages of channels' },
  'messages.publish': { type: 'MANAGE', description: 'Publish messages to channels' },
  'audit.read': { type: 'ADMIN', description: 'Read the audit log' },
  'tenants.write': { type: 'SUPER', description: 'Create and delete tenants (SYSTEM scope only)' },
} as const satisfies Record<string, PermissionInfo>;

export type Permission = keyof typeof PERMISSIONS;

export const PERMISSION_NAMES = Object.keys(PERMISSIONS) as Permission[];

export function isPermission(name: string): name is Permission {
  return Object.hasOwn(PERMISSIONS, name);
}

/** Every permission a default role of `type` holds. */
export function permissionsUpTo(type: RoleType): Permission[] {
  const rank = roleRank(type);
  return PERMISSION_NAMES.filter((p) => roleRank(PERMISSIONS[p].type) <= rank);
}

/** Permissions that only make sense with SYSTEM scope. */
export function isSystemOnly(permission: Permission): boolean {
  return PERMISSIONS[permission].type === 'SUPER';
}
