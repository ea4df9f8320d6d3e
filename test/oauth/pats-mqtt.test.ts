/**
 * Personal access tokens (REST, Bearer, MQTT password) and OAuth access tokens on the broker: a
 * session whose token expires is disconnected.
 */
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Api } from '../admin/harness.js';
import { closeClient, connectClient } from '../helpers.js';
import { defaultClients, insecure, type OAuthFixture, SECRET, startOAuthPlatform } from './helpers.js';

let f: OAuthFixture;
let alice: Api;
beforeAll(async () => {
  f = await startOAuthPlatform('oauthpats');
  alice = await f.t.api.login(f.human.email, f.humanPassword);
});
afterAll(async () => {
  await f?.t.close();
});

function waitClose(client: { once(event: 'close', cb: () => void): unknown }): Promise<number> {
  const started = Date.now();
  return new Promise((resolve) => client.once('close', () => resolve(Date.now() - started)));
}

describe('personal access tokens', () => {
  it('create, list, use as Bearer and as MQTT password, revoke', async () => {
    const created = await alice.post('/users/me/tokens', {
      name: 'ci',
      scopes: ['telemetry:read'],
      expiresInDays: 30,
    });
    expect(created.status).toBe(201);
    const pat: string = created.body.token;
    expect(pat.startsWith('omap_pat_')).toBe(true);
    expect(created.body.pat.scopes).toEqual(['telemetry:read']);
    const list = await alice.get('/users/me/tokens');
    expect(list.body.items.map((p: { name: string }) => p.name)).toEqual(['ci']);
    expect(JSON.stringify(list.body)).not.toContain(pat.split('.')[1]);
    expect((await alice.post('/users/me/tokens', { name: 'ci', expiresInDays: 1 })).status).toBe(409);

    const me = await f.t.api.as(pat).get('/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(f.human.id);
    // A PAT does not take the place of the human's interactive token.
    expect((await alice.get('/auth/me')).status).toBe(200);
    // A new interactive login revokes the human's live tokens (the PAT's derived one too): the PAT
    // is simply exchanged again.
    alice = await f.t.api.login(f.human.email, f.humanPassword);
    expect((await f.t.api.as(pat).get('/auth/me')).status).toBe(200);

    const client = await connectClient(f.t.mqttUrl, {
      protocolVersion: 5,
      clientId: 'pat-1',
      username: 'x',
      password: pat,
    });
    const closed = waitClose(client);
    const revoked = await alice.del(`/users/me/tokens/${created.body.pat.id}`);
    expect(revoked.status).toBe(204);
    await closed; // revocation ends the live session at once
    expect((await f.t.api.as(pat).get('/auth/me')).status).toBe(401);
    await expect(
      connectClient(f.t.mqttUrl, {
        protocolVersion: 5,
        clientId: 'pat-2',
        username: 'x',
        password: pat,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
  });

  it('an expired PAT is refused', async () => {
    const created = await alice.post('/users/me/tokens', { name: 'short', expiresInDays: 1 });
    const pat: string = created.body.token;
    // Age it in the database.
    await f.t.platform.store.db
      .updateTable('oauth_pats' as never)
      .set({ expires_at: new Date(Date.now() - 1000).toISOString() } as never)
      .where('id' as never, '=', created.body.pat.id as never)
      .execute();
    expect((await f.t.api.as(pat).get('/auth/me')).status).toBe(401);
    expect((await f.t.api.as(`${pat.slice(0, -1)}x`).get('/auth/me')).status).toBe(401);
  });

  it('refuses malformed scopes and anonymous callers', async () => {
    expect(
      (await alice.post('/users/me/tokens', { name: 'bad', scopes: ['a b'], expiresInDays: 1 })).status,
    ).toBe(400);
    expect((await f.t.api.post('/users/me/tokens', { name: 'anon', expiresInDays: 1 })).status).toBe(401);
  });
});

describe('OAuth access tokens on the broker', () => {
  it('an access token is an MQTT password; the session ends when the token expires', async () => {
    const clients = defaultClients(f.system.id);
    clients[0] = { ...clients[0]!, accessTokenTtlSeconds: 2 };
    f.setClients(clients);
    const svc = { client_id: 'svc' };
    const tokens = await oauth.processClientCredentialsResponse(
      f.as,
      svc,
      await oauth.clientCredentialsGrantRequest(
        f.as,
        svc,
        oauth.ClientSecretBasic(SECRET),
        new URLSearchParams(),
        insecure,
      ),
    );
    expect(tokens.expires_in).toBe(2);
    const client = await connectClient(f.t.mqttUrl, {
      protocolVersion: 5,
      clientId: 'oauth-svc',
      username: 'svc',
      password: tokens.access_token,
      reconnectPeriod: 0,
    });
    expect(client.connected).toBe(true);
    const after = await waitClose(client);
    expect(after).toBeLessThan(5000);
    await closeClient(client, true);
    await expect(
      connectClient(f.t.mqttUrl, {
        protocolVersion: 5,
        clientId: 'oauth-svc-2',
        password: tokens.access_token,
        reconnectPeriod: 0,
      }),
    ).rejects.toThrow();
  });
});
