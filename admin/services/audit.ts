/**
 * Reading the audit log: platform operators with SYSTEM `audit.read` read everything; a tenant's
 * administrators (`audit.read` on the tenant root) read their tenant's entries.
 */
import type { Page } from '../../storage/sql/filters.js';
import type { AuditEntry } from '../../storage/sql/repositories/audit-log.js';
import type { Actor } from './actor.js';
import { type Paging, paging, type ServiceContext } from './context.js';
import { forbidden } from './errors.js';

export class AuditService {
  constructor(private readonly ctx: ServiceContext) {}

  async list(
    actor: Actor,
    query: Paging & { entityId?: string; tenantId?: string },
  ): Promise<Page<AuditEntry>> {
    const page = paging(query);
    if (actor.grants.everywhere('audit.read')) {
      return this.ctx.store.audit.list({
        tenantId: query.tenantId ?? null,
        ...page,
        ...(query.entityId && { entityId: query.entityId }),
      });
    }
    const tenantId = query.tenantId ?? actor.tenantId;
    if (tenantId === null || !actor.can('audit.read', `/${tenantId}/`)) {
      throw forbidden('audit.read on the tenant is needed');
    }
    return this.ctx.store.audit.list({
      tenantId,
      ...page,
      ...(query.entityId && { entityId: query.entityId }),
    });
  }
}
