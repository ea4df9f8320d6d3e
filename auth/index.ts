/** Credentials, policy and the broker authorizer of the platform: the public surface of auth/. */
export { type AuthorizationChange, ChangeFeed, type ChangeListener } from './change-feed.js';
export { channelOfFilter, channelOfTopic, subtopicOfTopic } from './channel-topics.js';
export { Grants } from './grants.js';
export { KeyRing, SIGNING_ALG, type SigningKey } from './key-ring.js';
export { DEFAULT_PASSWORD_COST, type PasswordCost, PasswordHasher } from './passwords.js';
export {
  isPermission,
  PERMISSION_NAMES,
  PERMISSIONS,
  type Permission,
  permissionsUpTo,
  ROLE_TYPES,
  type RoleType,
} from './permissions.js';
export {
  type AuthClient,
  type AuthRequest,
  type AuthResult,
  PlatformAuthorizer,
  type PlatformAuthorizerOptions,
} from './platform-authorizer.js';
export { type MessageAction, PolicyEngine } from './policy.js';
export { isPlatformPrincipal, PlatformPrincipal } from './principal.js';
export type { PrincipalMatch, SessionEnforcer } from './session-enforcer.js';
export {
  SHARE_ROLE_NAMES,
  SHARE_ROLES,
  type ShareCapability,
  type ShareRole,
  shareAllows,
} from './share-roles.js';
export { loadOrCreateKeyFile, ThingSecrets } from './thing-secrets.js';
export {
  type AccessClaims,
  DEFAULT_TOKEN_OPTIONS,
  type IssuedToken,
  looksLikeJwt,
  type TokenOptions,
  TokenService,
} from './tokens.js';
