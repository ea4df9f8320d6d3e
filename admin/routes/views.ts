/** Repository records as the API shows them: internal fields (materialized paths, hashes) left out. */

import type { Asset } from '../../storage/sql/repositories/assets.js';
import type { Channel } from '../../storage/sql/repositories/channels.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import type { Thing } from '../../storage/sql/repositories/things.js';
import type { Membership } from '../../storage/sql/repositories/users.js';
import { ServiceError } from '../services/errors.js';

export function nodeView({ path: _path, ...node }: OrgNode): Omit<OrgNode, 'path'> {
  return node;
}

export function thingView({ nodePath: _p, ...thing }: Thing): Omit<Thing, 'nodePath'> {
  return thing;
}

export function channelView({ nodePath: _p, ...channel }: Channel): Omit<Channel, 'nodePath'> {
  return channel;
}

export function assetView(
  { nodePath: _p, ...asset }: Asset,
  access?: string,
): Omit<Asset, 'nodePath'> & { access?: string } {
  return access === undefined ? asset : { ...asset, access };
}

export function membershipView({ nodePath: _p, ...m }: Membership): Omit<Membership, 'nodePath'> {
  return m;
}

/** `?metadata=<json object>` → the object; a 400 is raised by the caller on null. */
export function parseMetadataFilter(text: string | undefined): Record<string, unknown> | undefined | null {
  if (text === undefined || text === '') return undefined;
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The list options of a validated `FilterQuery`, with `metadata` parsed (400 when it is not a JSON object). */
export function listQuery<Q extends { limit?: number; offset?: number; name?: string; metadata?: string }>(
  q: Q,
): Omit<Q, 'metadata'> & { metadata?: Record<string, unknown> } {
  const { metadata, ...rest } = q;
  const parsed = parseMetadataFilter(metadata);
  if (parsed === null) throw new ServiceError('bad-request', 'query.metadata must be a JSON object');
  return parsed === undefined ? rest : { ...rest, metadata: parsed };
}
