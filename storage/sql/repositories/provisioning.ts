/**
 * Registration keys and provisioned devices. The tables are typed here (not in schema.ts) and the
 * repository runs on the store's Kysely instance (or a transaction's), viewed with these tables.
 */
import type { Kysely, Selectable } from 'kysely';
import type { Database, Timestamp } from '../schema.js';
import { count, iso, isoOrNull, now } from '../values.js';

export type ProvisioningKeyStatus = 'active' | 'revoked';
export type ChannelMode = 'per-device' | 'shared';

export interface ProvisioningKeysTable {
  id: string;
  tenant_id: string;
  node_id: string;
  node_path: string;
  lineage_id: string;
  name: string;
  /** SHA-256 of the id half, hex. */
  id_hash: string;
  /** The secret half, AES-256-GCM under the server's key-encryption key (base64). */
  secret_sealed: string;
  status: ProvisioningKeyStatus;
  expires_at: Timestamp | null;
  max_devices: number | null;
  serial_pattern: string | null;
  channel_mode: ChannelMode;
  channel_id: string | null;
  channel_name: string | null;
  replaced_by: string | null;
  revoked_at: Timestamp | null;
  created_at: Timestamp;
  created_by: string | null;
  updated_at: Timestamp;
  updated_by: string | null;
}

export interface ProvisionedDevicesTable {
  node_id: string;
  serial: string;
  tenant_id: string;
  thing_id: string;
  channel_id: string;
  key_id: string;
  lineage_id: string;
  registered_at: Timestamp;
  updated_at: Timestamp;
  remote_address: string | null;
}

export interface ProvisioningDatabase extends Database {
  provisioning_keys: ProvisioningKeysTable;
  provisioned_devices: ProvisionedDevicesTable;
}

export interface ProvisioningKey {
  id: string;
  tenantId: string;
  nodeId: string;
  nodePath: string;
  lineageId: string;
  name: string;
  idHash: string;
  secretSealed: string;
  status: ProvisioningKeyStatus;
  expiresAt: string | null;
  maxDevices: number | null;
  serialPattern: string | null;
  channelMode: ChannelMode;
  channelId: string | null;
  channelName: string | null;
  replacedBy: string | null;
  revokedAt: string | null;
  createdAt: string;
  createdBy: string | null;
  updatedAt: string;
  updatedBy: string | null;
}

export type NewProvisioningKey = Omit<
  ProvisioningKey,
  'status' | 'replacedBy' | 'revokedAt' | 'createdAt' | 'updatedAt' | 'updatedBy'
>;

export interface ProvisionedDevice {
  nodeId: string;
  serial: string;
  tenantId: string;
  thingId: string;
  channelId: string;
  keyId: string;
  lineageId: string;
  registeredAt: string;
  updatedAt: string;
  remoteAddress: string | null;
}

function toKey(r: Selectable<ProvisioningKeysTable>): ProvisioningKey {
  return {
    id: r.id,
    tenantId: r.tenant_id,
    nodeId: r.node_id,
    nodePath: r.node_path,
    lineageId: r.lineage_id,
    name: r.name,
    idHash: r.id_hash,
    secretSealed: r.secret_sealed,
    status: r.status,
    expiresAt: isoOrNull(r.expires_at),
    maxDevices: r.max_devices === null ? null : Number(r.max_devices),
    serialPattern: r.serial_pattern,
    channelMode: r.channel_mode,
    channelId: r.channel_id,
    channelName: r.channel_name,
    replacedBy: r.replaced_by,
    revokedAt: isoOrNull(r.revoked_at),
    createdAt: iso(r.created_at),
    createdBy: r.created_by,
    updatedAt: iso(r.updated_at),
    updatedBy: r.updated_by,
  };
}

function toDevice(r: Selectable<ProvisionedDevicesTable>): ProvisionedDevice {
  return {
    nodeId: r.node_id,
    serial: r.serial,
    tenantId: r.tenant_id,
    thingId: r.thing_id,
    channelId: r.channel_id,
    keyId: r.key_id,
    lineageId: r.lineage_id,
    registeredAt: iso(r.registered_at),
    updatedAt: iso(r.updated_at),
    remoteAddress: r.remote_address,
  };
}

export class ProvisioningRepository {
  private readonly db: Kysely<ProvisioningDatabase>;

  constructor(db: Kysely<Database>) {
    this.db = db as unknown as Kysely<ProvisioningDatabase>;
  }

  async insertKey(key: NewProvisioningKey): Promise<ProvisioningKey> {
    const at = now();
    const row = await this.db
      .insertInto('provisioning_keys')
      .values({
        id: key.id,
        tenant_id: key.tenantId,
        node_id: key.nodeId,
        node_path: key.nodePath,
        lineage_id: key.lineageId,
        name: key.name,
        id_hash: key.idHash,
        secret_sealed: key.secretSealed,
        status: 'active',
        expires_at: key.expiresAt,
        max_devices: key.maxDevices,
        serial_pattern: key.serialPattern,
        channel_mode: key.channelMode,
        channel_id: key.channelId,
        channel_name: key.channelName,
        replaced_by: null,
        revoked_at: null,
        created_at: at,
        created_by: key.createdBy,
        updated_at: at,
        updated_by: key.createdBy,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toKey(row);
  }

  async key(id: string): Promise<ProvisioningKey | undefined> {
    const row = await this.db
      .selectFrom('provisioning_keys')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row && toKey(row);
  }

  async keyByIdHash(idHash: string): Promise<ProvisioningKey | undefined> {
    const row = await this.db
      .selectFrom('provisioning_keys')
      .selectAll()
      .where('id_hash', '=', idHash)
      .executeTakeFirst();
    return row && toKey(row);
  }

  /** Keys of the nodes whose paths start with one of `pathPrefixes` (null: all). */
  async listKeys(
    pathPrefixes: readonly string[] | null,
    options: { nodeId?: string; limit: number; offset: number },
  ): Promise<{ items: ProvisioningKey[]; total: number }> {
    let q = this.db.selectFrom('provisioning_keys');
    if (pathPrefixes !== null) {
      if (pathPrefixes.length === 0) return { items: [], total: 0 };
      q = q.where((eb) =>
        eb.or(pathPrefixes.map((p) => eb('node_path', 'like', `${p.replace(/[\\%_]/g, (c) => `\\${c}`)}%`))),
      );
    }
    if (options.nodeId !== undefined) q = q.where('node_id', '=', options.nodeId);
    const total = await q.select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirst();
    const rows = await q
      .selectAll()
      .orderBy('created_at', 'asc')
      .orderBy('id', 'asc')
      .limit(options.limit)
      .offset(options.offset)
      .execute();
    return { items: rows.map(toKey), total: count(total?.n) };
  }

  async updateKey(
    id: string,
    patch: Partial<Pick<ProvisioningKey, 'status' | 'expiresAt' | 'replacedBy' | 'revokedAt'>>,
    actor: string | null,
  ): Promise<ProvisioningKey | undefined> {
    const row = await this.db
      .updateTable('provisioning_keys')
      .set({
        ...(patch.status !== undefined && { status: patch.status }),
        ...(patch.expiresAt !== undefined && { expires_at: patch.expiresAt }),
        ...(patch.replacedBy !== undefined && { replaced_by: patch.replacedBy }),
        ...(patch.revokedAt !== undefined && { revoked_at: patch.revokedAt }),
        updated_at: now(),
        updated_by: actor,
      })
      .where('id', '=', id)
      .returningAll()
      .executeTakeFirst();
    return row && toKey(row);
  }

  async device(nodeId: string, serial: string): Promise<ProvisionedDevice | undefined> {
    const row = await this.db
      .selectFrom('provisioned_devices')
      .selectAll()
      .where('node_id', '=', nodeId)
      .where('serial', '=', serial)
      .executeTakeFirst();
    return row && toDevice(row);
  }

  async deviceByThing(thingId: string): Promise<ProvisionedDevice | undefined> {
    const row = await this.db
      .selectFrom('provisioned_devices')
      .selectAll()
      .where('thing_id', '=', thingId)
      .executeTakeFirst();
    return row && toDevice(row);
  }

  async countDevices(lineageId: string): Promise<number> {
    const row = await this.db
      .selectFrom('provisioned_devices')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .where('lineage_id', '=', lineageId)
      .executeTakeFirst();
    return count(row?.n);
  }

  async insertDevice(
    device: Omit<ProvisionedDevice, 'registeredAt' | 'updatedAt'>,
  ): Promise<ProvisionedDevice> {
    const at = now();
    const row = await this.db
      .insertInto('provisioned_devices')
      .values({
        node_id: device.nodeId,
        serial: device.serial,
        tenant_id: device.tenantId,
        thing_id: device.thingId,
        channel_id: device.channelId,
        key_id: device.keyId,
        lineage_id: device.lineageId,
        registered_at: at,
        updated_at: at,
        remote_address: device.remoteAddress,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    return toDevice(row);
  }

  async touchDevice(
    nodeId: string,
    serial: string,
    patch: { channelId?: string; keyId?: string; remoteAddress: string | null },
  ): Promise<void> {
    await this.db
      .updateTable('provisioned_devices')
      .set({
        ...(patch.channelId !== undefined && { channel_id: patch.channelId }),
        ...(patch.keyId !== undefined && { key_id: patch.keyId }),
        remote_address: patch.remoteAddress,
        updated_at: now(),
      })
      .where('node_id', '=', nodeId)
      .where('serial', '=', serial)
      .execute();
  }
}
