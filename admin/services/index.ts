/** Every management service, built over one store. */
import type { KeyRing } from '../../auth/key-ring.js';
import type { PasswordHasher } from '../../auth/passwords.js';
import type { ThingSecrets } from '../../auth/thing-secrets.js';
import type { TokenService } from '../../auth/tokens.js';
import { AssetService } from './assets.js';
import { AuditService } from './audit.js';
import type { ServiceContext } from './context.js';
import { NodeService } from './nodes.js';
import { RoleService } from './roles.js';
import { SessionService } from './sessions.js';
import { SetupService } from './setup.js';
import { ChannelService, ThingService } from './things.js';
import { UserService } from './users.js';

export interface Services {
  readonly nodes: NodeService;
  readonly users: UserService;
  readonly roles: RoleService;
  readonly things: ThingService;
  readonly channels: ChannelService;
  readonly assets: AssetService;
  readonly audit: AuditService;
  readonly sessions: SessionService;
  readonly setup: SetupService;
  readonly keys: KeyRing;
}

export function createServices(
  ctx: ServiceContext,
  deps: { passwords: PasswordHasher; secrets: ThingSecrets; tokens: TokenService; keys: KeyRing },
): Services {
  const users = new UserService(ctx, deps.passwords);
  const things = new ThingService(ctx, deps.secrets);
  return {
    nodes: new NodeService(ctx),
    users,
    roles: new RoleService(ctx, users),
    things,
    channels: new ChannelService(ctx, things),
    assets: new AssetService(ctx),
    audit: new AuditService(ctx),
    sessions: new SessionService(ctx, deps.passwords, deps.tokens),
    setup: new SetupService(ctx, deps.passwords),
    keys: deps.keys,
  };
}
