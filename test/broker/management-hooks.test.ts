/** Hooks the platform uses on live clients: disconnect, revoke subscriptions, credential expiry. */
import type { IDisconnectPacket } from 'mqtt-packet';
import { afterEach, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { Authorizer } from '../../broker/index.js';
import { RawClient, startBroker, type TestBroker } from '../helpers.js';

let tb: TestBroker;
const raws: RawClient[] = [];
afterEach(async () => {
  for (const r of raws.splice(0)) r.destroy();
  await tb.close();
});
async function raw(connect = {}) {
  const c = await RawClient.connected(tb.port, connect, 5);
  raws.push(c);
  return c;
}

describe('management hooks', () => {
  it('disconnectClients closes matching clients with 0x98 and leaves the others', async () => {
    tb = await startBroker();
    const a = await raw({ clientId: 'thing-a', username: 'a' });
    const b = await raw({ clientId: 'thing-b', username: 'b' });
    expect(tb.broker.disconnectClients((c) => c.username === 'a', 'secret rotated')).toBe(1);
    const d = (await a.next('disconnect')) as IDisconnectPacket;
    expect(d.reasonCode).toBe(0x98);
    expect(d.properties?.reasonString).toBe('secret rotated');
    await a.whenClosed();
    b.send({ cmd: 'pingreq' });
    await b.next('pingresp');
  });

  it('removeSubscriptions revokes matching subscriptions of live and offline sessions', async () => {
    tb = await startBroker();
    const live = await raw({ clientId: 'live', username: 'u1' });
    await live.subscribe([
      { topic: 'channels/1/#', qos: 0 },
      { topic: 'channels/2/#', qos: 0 },
    ]);
    const removed = tb.broker.removeSubscriptions(
      (client, filter) => client?.username === 'u1' && filter.startsWith('channels/1/'),
    );
    expect(removed).toBe(1);
    tb.broker.publish({ topic: 'channels/1/x', payload: 'revoked' });
    tb.broker.publish({ topic: 'channels/2/x', payload: 'still allowed' });
    expect(((await live.next('publish')) as { payload: Buffer }).payload.toString()).toBe('still allowed');
    expect([...tb.broker.core.sessions.get('live')!.subscriptions.keys()]).toEqual(['channels/2/#']);
  });

  it('removeSubscriptions closes a revoked plain WebSocket subscription (4403)', async () => {
    tb = await startBroker({ http: { port: 0 } });
    const ws = new WebSocket(`ws://127.0.0.1:${tb.addresses.http!.port}/channels/c1/messages`);
    await new Promise((resolve, reject) => {
      ws.once('open', resolve);
      ws.once('error', reject);
    });
    const closed = new Promise<number>((resolve) => ws.once('close', (code) => resolve(code)));
    expect(tb.broker.removeSubscriptions((_client, filter) => filter === 'channels/c1/messages')).toBe(1);
    expect(await closed).toBe(4403);
  });

  it('closes a connection when its credential expires (0xA0)', async () => {
    const authorizer: Authorizer = {
      authenticate: () => ({ ok: true, expiresAt: Date.now() + 300 }),
      authorizePublish: () => true,
      authorizeSubscribe: () => true,
    };
    tb = await startBroker({ authorizer, limits: { sweepIntervalMs: 50 } });
    const c = await raw();
    expect(((await c.next('disconnect', 3000)) as IDisconnectPacket).reasonCode).toBe(0xa0);
    expect(tb.broker.stats().expiredCredentials).toBe(1);
  });
});
