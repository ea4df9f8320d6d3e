/**
 * A user's grants, evaluated: may they use `permission` on something living at `path`? A grant
 * covers its node's whole subtree (a customer role covers its deployments); a SYSTEM grant (null
 * path) covers everything and exists only for platform users.
 */
import type { Scope } from '../storage/sql/filters.js';
import type { Grant } from '../storage/sql/repositories/roles.js';
import type { Permission } from './permissions.js';

export class Grants {
  private readonly byPermission = new Map<string, (string | null)[]>();

  constructor(readonly list: readonly Grant[]) {
    for (const g of list) {
      let paths = this.byPermission.get(g.permission);
      if (!paths) this.byPermission.set(g.permission, (paths = []));
      paths.push(g.path);
    }
  }

  /** Covers `path` (a node's materialized path) for `permission`. */
  covers(permission: Permission, path: string): boolean {
    const paths = this.byPermission.get(permission);
    if (!paths) return false;
    for (const p of paths) if (p === null || path.startsWith(p)) return true;
    return false;
  }

  /** Holds `permission` with SYSTEM scope. */
  everywhere(permission: Permission): boolean {
    return this.byPermission.get(permission)?.includes(null) ?? false;
  }

  /** Where `permission` applies, as a list scope (subtrees, minimal). */
  scope(permission: Permission): Scope {
    const paths = this.byPermission.get(permission);
    if (!paths) return { paths: [] };
    if (paths.includes(null)) return { all: true };
    const sorted = [...new Set(paths as string[])].sort((a, b) => a.length - b.length);
    const minimal: string[] = [];
    for (const p of sorted) if (!minimal.some((m) => p.startsWith(m))) minimal.push(p);
    return { paths: minimal };
  }

  get isEmpty(): boolean {
    return this.list.length === 0;
  }
}
