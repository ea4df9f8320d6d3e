/**
 * Device provisioning: registration keys per organization node (created, listed, rotated with an
 * overlap, revoked) and the device side of it — self-registration by serial number with the key's
 * id half, and re-provisioning (a new secret) authenticated by the device's current secret. Replies
 * to devices are envelopes (auth/provisioning/envelope.ts) only the device can open. Every
 * registration, refusal of a known key and key change is appended to the audit log.
 */
import { sealEnvelope } from '../../auth/provisioning/envelope.js';
import {
  generateHalves,
  hashIdHalf,
  normalizeHalf,
  type SecretHalfVault,
  serialAllowed,
  unsafePatternReason,
  validSerial,
} from '../../auth/provisioning/keys.js';
import type { ThingSecrets } from '../../auth/thing-secrets.js';
import { constraintViolation } from '../../storage/sql/errors.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import {
  type ProvisionedDevice,
  type ProvisioningKey,
  ProvisioningRepository,
} from '../../storage/sql/repositories/provisioning.js';
import type { SqlStore } from '../../storage/sql/store.js';
import { now } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { audit, newId, type Paging, paging, type ServiceContext } from './context.js';
import { forbidden, notFound, unprocessable } from './errors.js';

/** A refusal of a device request: an HTTP status (and the CoAP code of the same number). */
export class ProvisioningError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 409,
    message: string,
  ) {
    super(message);
  }
}

export type ChannelTemplate =
  | { mode: 'per-device'; name?: string; strictSenml?: boolean }
  | { mode: 'shared'; channelId?: string; name?: string; strictSenml?: boolean };

export interface NewKeyInput {
  nodeId: string;
  name: string;
  expiresAt?: string;
  maxDevices?: number;
  serialPattern?: string;
  channel?: ChannelTemplate;
}

export interface IssuedKey {
  key: ProvisioningKey;
  idHalf: string;
  secretHalf: string;
}

export interface DeviceRequest {
  serial: string;
  remoteAddress: string | null;
  /** The transport, for the audit log. */
  via: 'http' | 'coap';
}

export interface DeviceReply {
  thingId: string;
  channelId: string;
  /** The envelope (binary); HTTP sends it base64. */
  envelope: Buffer;
  /** True when this request created the thing. */
  created: boolean;
}

const WRITE_PERMISSIONS = ['things.write', 'things.secret', 'channels.write', 'connections.write'] as const;
const DEFAULT_DEVICE_CHANNEL_NAME = '{serial}';

export class ProvisioningService {
  private readonly repo: ProvisioningRepository;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly secrets: ThingSecrets,
    private readonly vault: SecretHalfVault,
  ) {
    this.repo = new ProvisioningRepository(ctx.store.db);
  }

  // ---- operators -------------------------------------------------------------------------------

  private async node(actor: Actor, nodeId: string): Promise<OrgNode> {
    const node = await this.ctx.store.nodes.get(nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    return node;
  }

  private requireWrite(actor: Actor, path: string): void {
    for (const p of WRITE_PERMISSIONS) {
      if (!actor.can(p, path)) throw forbidden(`${WRITE_PERMISSIONS.join(', ')} are needed on the node`);
    }
  }

  async createKey(actor: Actor, input: NewKeyInput): Promise<IssuedKey> {
    const node = await this.node(actor, input.nodeId);
    this.requireWrite(actor, node.path);
    if (input.serialPattern !== undefined) {
      const reason = unsafePatternReason(input.serialPattern);
      if (reason !== null) throw unprocessable(`serialPattern: ${reason}`);
    }
    if (input.expiresAt !== undefined && Number.isNaN(Date.parse(input.expiresAt))) {
      throw unprocessable('expiresAt is not a date-time');
    }
    const template = input.channel ?? { mode: 'per-device' };
    const id = newId();
    return this.ctx.store.transaction(async (tx) => {
      let channelId: string | null = null;
      let channelName: string | null = template.name ?? null;
      if (template.mode === 'shared') {
        channelId = await this.sharedChannel(tx, actor, node, template);
        channelName = null;
      }
      const issued = await this.insertKey(tx, actor, node, {
        id,
        lineageId: id,
        name: input.name,
        expiresAt: input.expiresAt === undefined ? null : new Date(input.expiresAt).toISOString(),
        maxDevices: input.maxDevices ?? null,
        serialPattern: input.serialPattern ?? null,
        channelMode: template.mode,
        channelId,
        channelName,
      });
      await audit(
        tx,
        actor,
        'provisioning-key.create',
        { type: 'provisioning-key', id, tenantId: node.tenantId },
        { name: input.name, nodeId: node.id, channelMode: template.mode, ...(channelId && { channelId }) },
      );
      return issued;
    });
  }

  private async insertKey(
    tx: SqlStore,
    actor: Actor,
    node: { id: string; tenantId: string; path: string },
    fields: Pick<
      ProvisioningKey,
      | 'id'
      | 'lineageId'
      | 'name'
      | 'expiresAt'
      | 'maxDevices'
      | 'serialPattern'
      | 'channelMode'
      | 'channelId'
      | 'channelName'
    >,
  ): Promise<IssuedKey> {
    const halves = generateHalves();
    const key = await new ProvisioningRepository(tx.db).insertKey({
      ...fields,
      tenantId: node.tenantId,
      nodeId: node.id,
      nodePath: node.path,
      idHash: hashIdHalf(halves.idHalf),
      secretSealed: this.vault.seal(fields.id, halves.secretHalf),
      createdBy: actor.userId,
    });
    return { key, ...halves };
  }

  /** The shared channel of a key: the given one (same tenant, visible), or one found or created by name. */
  private async sharedChannel(
    tx: SqlStore,
    actor: Actor,
    node: OrgNode,
    template: Extract<ChannelTemplate, { mode: 'shared' }>,
  ): Promise<string> {
    if (template.channelId !== undefined) {
      const channel = await tx.channels.get(template.channelId);
      if (channel === undefined || !actor.can('channels.read', channel.nodePath)) throw notFound('channel');
      if (channel.tenantId !== node.tenantId) throw unprocessable('the channel belongs to another tenant');
      if (!actor.can('connections.write', channel.nodePath)) {
        throw forbidden('connections.write is needed on the channel');
      }
      return channel.id;
    }
    if (template.name === undefined) throw unprocessable('a shared channel needs channelId or name');
    const existing = await tx.channels.list(
      { paths: [node.path] },
      { limit: 500, offset: 0, name: template.name },
    );
    const same = existing.items.find((c) => c.nodeId === node.id && c.name === template.name);
    if (same !== undefined) return same.id;
    const id = newId();
    await tx.channels.insert(
      {
        id,
        tenantId: node.tenantId,
        nodeId: node.id,
        nodePath: node.path,
        name: template.name,
        metadata: {},
        strictSenml: template.strictSenml ?? false,
      },
      actor.userId,
    );
    await audit(
      tx,
      actor,
      'channel.create',
      { type: 'channel', id, tenantId: node.tenantId },
      {
        name: template.name,
      },
    );
    return id;
  }

  async visibleKey(actor: Actor, id: string): Promise<ProvisioningKey> {
    const key = await this.repo.key(id);
    if (key === undefined || !actor.can('things.read', key.nodePath)) throw notFound('registration key');
    return key;
  }

  async listKeys(
    actor: Actor,
    query: Paging & { nodeId?: string },
  ): Promise<{ items: ProvisioningKey[]; total: number; limit: number; offset: number }> {
    const page = paging(query);
    const scope = actor.scope('things.read');
    const prefixes = 'all' in scope ? null : scope.paths;
    const result = await this.repo.listKeys(prefixes, {
      ...page,
      ...(query.nodeId !== undefined && { nodeId: query.nodeId }),
    });
    return { ...result, ...page };
  }

  devicesOfKey(key: ProvisioningKey): Promise<number> {
    return this.repo.countDevices(key.lineageId);
  }

  /**
   * A new key with the same node, limits and channel template (and the same device count: limits
   * apply to the key's whole lineage); the old one keeps working for `overlapSeconds` more (0: it
   * stops now), unless it expires or is revoked sooner.
   */
  async rotateKey(
    actor: Actor,
    id: string,
    overlapSeconds: number,
  ): Promise<IssuedKey & { previous: ProvisioningKey }> {
    const old = await this.visibleKey(actor, id);
    this.requireWrite(actor, old.nodePath);
    if (old.status === 'revoked') throw unprocessable('a revoked key cannot be rotated');
    if (old.replacedBy !== null) throw unprocessable('this key was already rotated; rotate its successor');
    const newKeyId = newId();
    const overlapEnd = new Date(Date.now() + overlapSeconds * 1000).toISOString();
    const oldExpiry = old.expiresAt !== null && old.expiresAt < overlapEnd ? old.expiresAt : overlapEnd;
    return this.ctx.store.transaction(async (tx) => {
      const issued = await this.insertKey(
        tx,
        actor,
        { id: old.nodeId, tenantId: old.tenantId, path: old.nodePath },
        {
          id: newKeyId,
          lineageId: old.lineageId,
          name: old.name,
          expiresAt: old.expiresAt !== null && old.expiresAt > overlapEnd ? old.expiresAt : null,
          maxDevices: old.maxDevices,
          serialPattern: old.serialPattern,
          channelMode: old.channelMode,
          channelId: old.channelId,
          channelName: old.channelName,
        },
      );
      const repo = new ProvisioningRepository(tx.db);
      const previous = await repo.updateKey(id, { expiresAt: oldExpiry, replacedBy: newKeyId }, actor.userId);
      await audit(
        tx,
        actor,
        'provisioning-key.rotate',
        { type: 'provisioning-key', id, tenantId: old.tenantId },
        { replacedBy: newKeyId, oldKeyValidUntil: oldExpiry },
      );
      return { ...issued, previous: previous ?? old };
    });
  }

  /** Stops new registrations with this key at once; registered devices keep their secrets. */
  async revokeKey(actor: Actor, id: string): Promise<ProvisioningKey> {
    const key = await this.visibleKey(actor, id);
    if (!actor.can('things.write', key.nodePath)) throw forbidden('things.write is needed on the node');
    if (key.status === 'revoked') return key;
    return this.ctx.store.transaction(async (tx) => {
      const k = await new ProvisioningRepository(tx.db).updateKey(
        id,
        { status: 'revoked', revokedAt: now() },
        actor.userId,
      );
      if (k === undefined) throw notFound('registration key');
      await audit(tx, actor, 'provisioning-key.revoke', {
        type: 'provisioning-key',
        id,
        tenantId: key.tenantId,
      });
      return k;
    });
  }

  // ---- devices ---------------------------------------------------------------------------------

  /**
   * Self-registration of device `serial` with a key's id half. Idempotent per (node, serial): a
   * device that registers again gets the same thing and channel, and a fresh secret (the previous
   * one stops working: only its hash is kept, so it cannot be sent again).
   */
  async register(request: DeviceRequest & { idHalf: string | undefined }): Promise<DeviceReply> {
    const { serial } = request;
    if (!validSerial(serial)) {
      throw new ProvisioningError(400, 'the serial number must be 1-64 letters, digits or . _ : -');
    }
    if (request.idHalf === undefined || request.idHalf.trim() === '') {
      throw new ProvisioningError(
        401,
        'a registration key is required (?key=<id half> or Authorization: Registration <id half>)',
      );
    }
    const key = await this.repo.keyByIdHash(hashIdHalf(normalizeHalf(request.idHalf)));
    if (key === undefined) throw new ProvisioningError(401, 'unknown registration key');
    const refusal = this.keyRefusal(key, serial);
    if (refusal !== null) {
      await audit(
        this.ctx.store,
        null,
        'provisioning.refused',
        { type: 'provisioning-key', id: key.id, tenantId: key.tenantId },
        { serial, reason: refusal.message, remoteAddress: request.remoteAddress, via: request.via },
      );
      throw refusal;
    }
    let outcome: Awaited<ReturnType<ProvisioningService['registerInStore']>>;
    try {
      outcome = await this.registerInStore(key, request);
    } catch (err) {
      // Two first registrations of the same serial at once: the loser finds the winner's device.
      if (constraintViolation(err) !== 'unique') throw err;
      outcome = await this.registerInStore(key, request);
    }
    if (outcome.limitReached) {
      await audit(
        this.ctx.store,
        null,
        'provisioning.refused',
        { type: 'provisioning-key', id: key.id, tenantId: key.tenantId },
        { serial, reason: 'device limit reached', remoteAddress: request.remoteAddress, via: request.via },
      );
      throw new ProvisioningError(403, 'the registration key has reached its maximum number of devices');
    }
    const { device, secret, created, channelCreated } = outcome;
    if (channelCreated !== null) {
      await this.ctx.changes.publish({
        type: 'channel.changed',
        channelId: device.channelId,
        strictSenml: channelCreated,
      });
    }
    await this.ctx.changes.publish({
      type: 'connection.changed',
      thingId: device.thingId,
      channelId: device.channelId,
    });
    if (!created) await this.ctx.changes.publish({ type: 'thing.secret-rotated', thingId: device.thingId });
    const secretHalf = this.vault.open(key.id, key.secretSealed);
    return {
      thingId: device.thingId,
      channelId: device.channelId,
      envelope: sealEnvelope(secretHalf, serial, {
        thingId: device.thingId,
        channelId: device.channelId,
        secret,
      }),
      created,
    };
  }

  private keyRefusal(key: ProvisioningKey, serial: string): ProvisioningError | null {
    if (key.status === 'revoked') return new ProvisioningError(401, 'the registration key was revoked');
    if (key.expiresAt !== null && Date.parse(key.expiresAt) <= Date.now()) {
      return new ProvisioningError(401, 'the registration key has expired');
    }
    if (!serialAllowed(key.serialPattern, serial)) {
      return new ProvisioningError(403, 'this serial number is not allowed by the registration key');
    }
    return null;
  }

  private registerInStore(
    key: ProvisioningKey,
    request: DeviceRequest,
  ): Promise<
    | { limitReached: true }
    | {
        limitReached: false;
        device: ProvisionedDevice;
        secret: string;
        created: boolean;
        /** The strictSenml flag of a channel this registration created, else null. */
        channelCreated: boolean | null;
      }
  > {
    const { serial, remoteAddress, via } = request;
    return this.ctx.store.transaction(async (tx) => {
      const repo = new ProvisioningRepository(tx.db);
      const secret = this.secrets.generate();
      const secretHash = this.secrets.hash(secret);
      const existing = await repo.device(key.nodeId, serial);
      let thingId: string;
      let created = false;
      if (existing !== undefined) {
        const thing = await tx.things.get(existing.thingId);
        if (thing === undefined) throw new ProvisioningError(409, 'the device was just deleted; try again');
        if (thing.status !== 'enabled') throw new ProvisioningError(403, 'this device is disabled');
        await tx.things.update(thing.id, { secretHash }, null);
        thingId = thing.id;
      } else {
        if (key.maxDevices !== null && (await repo.countDevices(key.lineageId)) >= key.maxDevices) {
          return { limitReached: true as const };
        }
        thingId = newId();
        await tx.things.insert(
          {
            id: thingId,
            tenantId: key.tenantId,
            nodeId: key.nodeId,
            nodePath: key.nodePath,
            name: serial,
            metadata: { serial, provisioningKeyId: key.id },
            secretHash,
            status: 'enabled',
          },
          null,
        );
        created = true;
      }
      // The channel: the key's shared one, or the device's own (created again if it was deleted).
      let channelId = key.channelMode === 'shared' ? key.channelId : (existing?.channelId ?? null);
      let channelCreated: boolean | null = null;
      const channel = channelId === null ? undefined : await tx.channels.get(channelId);
      if (channel === undefined) {
        if (key.channelMode === 'shared') {
          throw new ProvisioningError(409, 'the channel of the registration key no longer exists');
        }
        channelId = newId();
        await tx.channels.insert(
          {
            id: channelId,
            tenantId: key.tenantId,
            nodeId: key.nodeId,
            nodePath: key.nodePath,
            name: (key.channelName ?? DEFAULT_DEVICE_CHANNEL_NAME).replaceAll('{serial}', serial),
            metadata: { serial, provisioningKeyId: key.id },
            strictSenml: false,
          },
          null,
        );
        channelCreated = false;
      }
      if (channelId === null) throw new ProvisioningError(409, 'the registration key has no channel');
      await tx.connections.upsert({ thingId, channelId, publish: true, subscribe: true }, null);
      let device: ProvisionedDevice;
      if (existing === undefined) {
        device = await repo.insertDevice({
          nodeId: key.nodeId,
          serial,
          tenantId: key.tenantId,
          thingId,
          channelId,
          keyId: key.id,
          lineageId: key.lineageId,
          remoteAddress,
        });
      } else {
        await repo.touchDevice(key.nodeId, serial, { channelId, keyId: key.id, remoteAddress });
        device = { ...existing, channelId, keyId: key.id, remoteAddress };
      }
      await audit(
        tx,
        null,
        created ? 'provisioning.register' : 'provisioning.re-register',
        { type: 'thing', id: thingId, tenantId: key.tenantId },
        { serial, keyId: key.id, channelId, remoteAddress, via },
      );
      return { limitReached: false as const, device, secret, created, channelCreated };
    });
  }

  /**
   * A new secret for a provisioned device, authenticated by its current secret; the reply is an
   * envelope under the current secret (purpose `reprovision`). The old secret stops working.
   */
  async reprovision(request: DeviceRequest & { secret: string | undefined }): Promise<DeviceReply> {
    const { serial } = request;
    if (request.secret === undefined || request.secret === '') {
      throw new ProvisioningError(
        401,
        'the current secret is required (Authorization: Thing <secret> or ?auth=)',
      );
    }
    const current = request.secret;
    const thing = await this.ctx.store.things.bySecretHash(this.secrets.hash(current));
    if (thing === undefined || !this.secrets.matches(current, thing.secretHash)) {
      throw new ProvisioningError(401, 'invalid device secret');
    }
    if (thing.status !== 'enabled') throw new ProvisioningError(403, 'this device is disabled');
    const device = await this.repo.deviceByThing(thing.id);
    if (device === undefined || device.serial !== serial) {
      throw new ProvisioningError(404, 'no provisioned device with this serial and secret');
    }
    const secret = this.secrets.generate();
    await this.ctx.store.transaction(async (tx) => {
      await tx.things.update(thing.id, { secretHash: this.secrets.hash(secret) }, null);
      await new ProvisioningRepository(tx.db).touchDevice(device.nodeId, serial, {
        remoteAddress: request.remoteAddress,
      });
      await audit(
        tx,
        null,
        'provisioning.reprovision',
        { type: 'thing', id: thing.id, tenantId: thing.tenantId },
        { serial, remoteAddress: request.remoteAddress, via: request.via },
      );
    });
    await this.ctx.changes.publish({ type: 'thing.secret-rotated', thingId: thing.id });
    return {
      thingId: thing.id,
      channelId: device.channelId,
      envelope: sealEnvelope(
        current,
        serial,
        { thingId: thing.id, channelId: device.channelId, secret },
        'reprovision',
      ),
      created: false,
    };
  }
}
