/**
 * Things (devices) and channels, and the connections between them. A thing's secret is returned
 * once, at creation and at rotation, and stored only as a keyed hash. A connection joins a thing
 * and a channel of the same tenant (nothing connects across tenants) with publish and/or subscribe
 * rights. Rotating, disabling, deleting and disconnecting take effect on live clients before the
 * call returns (through the change feed).
 */
import type { ThingSecrets } from '../../auth/thing-secrets.js';
import { constraintViolation } from '../../storage/sql/errors.js';
import type { Page } from '../../storage/sql/filters.js';
import type { Channel } from '../../storage/sql/repositories/channels.js';
import type { Connection } from '../../storage/sql/repositories/connections.js';
import type { OrgNode } from '../../storage/sql/repositories/nodes.js';
import type { Thing } from '../../storage/sql/repositories/things.js';
import type { EntityStatus } from '../../storage/sql/schema.js';
import type { JsonObject } from '../../storage/sql/values.js';
import type { Actor } from './actor.js';
import { audit, newId, type Paging, paging, type ServiceContext, updated } from './context.js';
import { conflict, forbidden, notFound, stale, unprocessable } from './errors.js';

type ListQuery = Paging & { name?: string; metadata?: JsonObject };

export class ThingService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly secrets: ThingSecrets,
  ) {}

  private async node(actor: Actor, nodeId: string): Promise<OrgNode> {
    const node = await this.ctx.store.nodes.get(nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    return node;
  }

  async create(
    actor: Actor,
    input: { nodeId: string; name: string; metadata?: JsonObject },
  ): Promise<{ thing: Thing; secret: string }> {
    const node = await this.node(actor, input.nodeId);
    if (!actor.can('things.write', node.path)) throw forbidden('things.write is needed on the node');
    const secret = this.secrets.generate();
    const id = newId();
    const thing = await this.ctx.store.transaction(async (tx) => {
      const t = await tx.things.insert(
        {
          id,
          tenantId: node.tenantId,
          nodeId: node.id,
          nodePath: node.path,
          name: input.name,
          metadata: input.metadata ?? {},
          secretHash: this.secrets.hash(secret),
          status: 'enabled',
        },
        actor.userId,
      );
      await audit(
        tx,
        actor,
        'thing.create',
        { type: 'thing', id, tenantId: node.tenantId },
        { name: input.name },
      );
      return t;
    });
    return { thing, secret };
  }

  async visible(actor: Actor, id: string): Promise<Thing> {
    const thing = await this.ctx.store.things.get(id);
    if (thing === undefined || !actor.can('things.read', thing.nodePath)) throw notFound('thing');
    return thing;
  }

  list(actor: Actor, query: ListQuery & { status?: EntityStatus }): Promise<Page<Thing>> {
    return this.ctx.store.things.list(actor.scope('things.read'), { ...query, ...paging(query) });
  }

  async update(
    actor: Actor,
    id: string,
    patch: { name?: string; metadata?: JsonObject },
    version?: number,
  ): Promise<Thing> {
    const thing = await this.visible(actor, id);
    actor.require('things.read', 'things.write', thing.nodePath, 'thing');
    return this.ctx.store.transaction(async (tx) => {
      const t = updated(await tx.things.update(id, patch, actor.userId, version), 'thing');
      await audit(tx, actor, 'thing.update', { type: 'thing', id, tenantId: thing.tenantId }, { ...patch });
      return t;
    });
  }

  async setStatus(actor: Actor, id: string, status: EntityStatus, version?: number): Promise<Thing> {
    const thing = await this.visible(actor, id);
    actor.require('things.read', 'things.write', thing.nodePath, 'thing');
    const result = await this.ctx.store.transaction(async (tx) => {
      const t = updated(await tx.things.update(id, { status }, actor.userId, version), 'thing');
      await audit(tx, actor, status === 'enabled' ? 'thing.enable' : 'thing.disable', {
        type: 'thing',
        id,
        tenantId: thing.tenantId,
      });
      return t;
    });
    if (status === 'disabled') await this.ctx.changes.publish({ type: 'thing.disabled', thingId: id });
    return result;
  }

  async rotateSecret(actor: Actor, id: string, version?: number): Promise<{ thing: Thing; secret: string }> {
    const thing = await this.visible(actor, id);
    actor.require('things.read', 'things.secret', thing.nodePath, 'thing');
    const secret = this.secrets.generate();
    const result = await this.ctx.store.transaction(async (tx) => {
      const t = updated(
        await tx.things.update(id, { secretHash: this.secrets.hash(secret) }, actor.userId, version),
        'thing',
      );
      await audit(tx, actor, 'thing.rotate-secret', { type: 'thing', id, tenantId: thing.tenantId });
      return t;
    });
    await this.ctx.changes.publish({ type: 'thing.secret-rotated', thingId: id });
    return { thing: result, secret };
  }

  async delete(actor: Actor, id: string, version?: number): Promise<void> {
    const thing = await this.visible(actor, id);
    actor.require('things.read', 'things.write', thing.nodePath, 'thing');
    if (version !== undefined && version !== thing.version) throw stale('thing');
    await this.ctx.store.transaction(async (tx) => {
      await tx.things.delete(id);
      await audit(
        tx,
        actor,
        'thing.delete',
        { type: 'thing', id, tenantId: thing.tenantId },
        { name: thing.name },
      );
    });
    await this.ctx.changes.publish({ type: 'thing.deleted', thingId: id });
  }

  async connections(actor: Actor, id: string): Promise<Connection[]> {
    await this.visible(actor, id);
    return this.ctx.store.connections.ofThing(id);
  }
}

export class ChannelService {
  constructor(
    private readonly ctx: ServiceContext,
    private readonly things: ThingService,
  ) {}

  async create(
    actor: Actor,
    input: { nodeId: string; name: string; metadata?: JsonObject; strictSenml?: boolean },
  ): Promise<Channel> {
    const node = await this.ctx.store.nodes.get(input.nodeId);
    if (node === undefined || !actor.can('nodes.read', node.path)) throw notFound('node');
    if (!actor.can('channels.write', node.path)) throw forbidden('channels.write is needed on the node');
    const id = newId();
    const channel = await this.ctx.store.transaction(async (tx) => {
      const c = await tx.channels.insert(
        {
          id,
          tenantId: node.tenantId,
          nodeId: node.id,
          nodePath: node.path,
          name: input.name,
          metadata: input.metadata ?? {},
          strictSenml: input.strictSenml ?? false,
        },
        actor.userId,
      );
      await audit(
        tx,
        actor,
        'channel.create',
        { type: 'channel', id, tenantId: node.tenantId },
        { name: input.name },
      );
      return c;
    });
    await this.ctx.changes.publish({
      type: 'channel.changed',
      channelId: id,
      strictSenml: channel.strictSenml,
    });
    return channel;
  }

  async visible(actor: Actor, id: string): Promise<Channel> {
    const channel = await this.ctx.store.channels.get(id);
    if (channel === undefined || !actor.can('channels.read', channel.nodePath)) throw notFound('channel');
    return channel;
  }

  list(actor: Actor, query: ListQuery): Promise<Page<Channel>> {
    return this.ctx.store.channels.list(actor.scope('channels.read'), { ...query, ...paging(query) });
  }

  async update(
    actor: Actor,
    id: string,
    patch: { name?: string; metadata?: JsonObject; strictSenml?: boolean },
    version?: number,
  ): Promise<Channel> {
    const channel = await this.visible(actor, id);
    actor.require('channels.read', 'channels.write', channel.nodePath, 'channel');
    const result = await this.ctx.store.transaction(async (tx) => {
      const c = updated(await tx.channels.update(id, patch, actor.userId, version), 'channel');
      await audit(
        tx,
        actor,
        'channel.update',
        { type: 'channel', id, tenantId: channel.tenantId },
        { ...patch },
      );
      return c;
    });
    await this.ctx.changes.publish({
      type: 'channel.changed',
      channelId: id,
      strictSenml: result.strictSenml,
    });
    return result;
  }

  async delete(actor: Actor, id: string, version?: number): Promise<void> {
    const channel = await this.visible(actor, id);
    actor.require('channels.read', 'channels.write', channel.nodePath, 'channel');
    if (version !== undefined && version !== channel.version) throw stale('channel');
    await this.ctx.store.transaction(async (tx) => {
      await tx.channels.delete(id);
      await audit(
        tx,
        actor,
        'channel.delete',
        { type: 'channel', id, tenantId: channel.tenantId },
        { name: channel.name },
      );
    });
    await this.ctx.changes.publish({ type: 'channel.deleted', channelId: id });
  }

  async connections(actor: Actor, id: string): Promise<Connection[]> {
    await this.visible(actor, id);
    return this.ctx.store.connections.ofChannel(id);
  }

  async connect(
    actor: Actor,
    channelId: string,
    thingId: string,
    rights: { publish: boolean; subscribe: boolean },
  ): Promise<Connection> {
    if (!rights.publish && !rights.subscribe)
      throw unprocessable('a connection needs publish and/or subscribe');
    const channel = await this.visible(actor, channelId);
    const thing = await this.things.visible(actor, thingId);
    if (thing.tenantId !== channel.tenantId)
      throw unprocessable('a thing and a channel of different tenants cannot be connected');
    if (
      !actor.can('connections.write', channel.nodePath) ||
      !actor.can('connections.write', thing.nodePath)
    ) {
      throw forbidden('connections.write is needed on both the thing and the channel');
    }
    let connection: Connection;
    try {
      connection = await this.ctx.store.transaction(async (tx) => {
        const c = await tx.connections.upsert({ thingId, channelId, ...rights }, actor.userId);
        await audit(
          tx,
          actor,
          'connection.set',
          { type: 'channel', id: channelId, tenantId: channel.tenantId },
          {
            thingId,
            ...rights,
          },
        );
        return c;
      });
    } catch (err) {
      if (constraintViolation(err) === 'foreign-key') throw conflict('the thing or channel was just deleted');
      throw err;
    }
    await this.ctx.changes.publish({ type: 'connection.changed', thingId, channelId });
    return connection;
  }

  async disconnect(actor: Actor, channelId: string, thingId: string): Promise<void> {
    const channel = await this.visible(actor, channelId);
    const thing = await this.things.visible(actor, thingId);
    if (
      !actor.can('connections.write', channel.nodePath) ||
      !actor.can('connections.write', thing.nodePath)
    ) {
      throw forbidden('connections.write is needed on both the thing and the channel');
    }
    const removed = await this.ctx.store.transaction(async (tx) => {
      const r = await tx.connections.delete(thingId, channelId);
      if (r) {
        await audit(
          tx,
          actor,
          'connection.remove',
          { type: 'channel', id: channelId, tenantId: channel.tenantId },
          {
            thingId,
          },
        );
      }
      return r;
    });
    if (!removed) throw notFound('connection');
    await this.ctx.changes.publish({ type: 'connection.changed', thingId, channelId });
  }
}
