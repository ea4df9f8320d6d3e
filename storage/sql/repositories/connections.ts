/** Connections between a thing and a channel, each with publish and/or subscribe rights. */
import type { Kysely, Selectable } from 'kysely';
import type { ConnectionsTable, Database } from '../schema.js';
import { flag, iso, now } from '../values.js';

export interface Connection {
  thingId: string;
  channelId: string;
  publish: boolean;
  subscribe: boolean;
  createdAt: string;
  createdBy: string | null;
}

function toConnection(row: Selectable<ConnectionsTable>): Connection {
  return {
    thingId: row.thing_id,
    channelId: row.channel_id,
    publish: row.can_publish === 1,
    subscribe: row.can_subscribe === 1,
    createdAt: iso(row.created_at),
    createdBy: row.created_by,
  };
}

export class ConnectionsRepository {
  constructor(private readonly db: Kysely<Database>) {}

  /** Creates the connection, or replaces its rights. */
  async upsert(
    c: { thingId: string; channelId: string; publish: boolean; subscribe: boolean },
    actor: string | null,
  ): Promise<Connection> {
    const row = await this.db
      .insertInto('connections')
      .values({
        thing_id: c.thingId,
        channel_id: c.channelId,
        can_publish: flag(c.publish),
        can_subscribe: flag(c.subscribe),
        created_at: now(),
        created_by: actor,
      })
      .onConflict((oc) =>
        oc
          .columns(['thing_id', 'channel_id'])
          .doUpdateSet({ can_publish: flag(c.publish), can_subscribe: flag(c.subscribe) }),
      )
      .returningAll()
      .executeTakeFirstOrThrow();
    return toConnection(row);
  }

  async get(thingId: string, channelId: string): Promise<Connection | undefined> {
    const row = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('thing_id', '=', thingId)
      .where('channel_id', '=', channelId)
      .executeTakeFirst();
    return row && toConnection(row);
  }

  async delete(thingId: string, channelId: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('connections')
      .where('thing_id', '=', thingId)
      .where('channel_id', '=', channelId)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async ofThing(thingId: string): Promise<Connection[]> {
    const rows = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('thing_id', '=', thingId)
      .orderBy('channel_id')
      .execute();
    return rows.map(toConnection);
  }

  async ofChannel(channelId: string): Promise<Connection[]> {
    const rows = await this.db
      .selectFrom('connections')
      .selectAll()
      .where('channel_id', '=', channelId)
      .orderBy('thing_id')
      .execute();
    return rows.map(toConnection);
  }
}
