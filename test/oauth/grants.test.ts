/** The OAuth grants over real HTTP, driven by oauth4webapi as the client library. */
import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify } from 'jose';
import * as oauth from 'oauth4webapi';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  authorizeInBrowser,
  defaultClients,
  insecure,
  type OAuthFixture,
  REDIRECT,
  SECRET,
  startOAuthPlatform,
} from './helpers.js';

let f: OAuthFixture;
beforeAll(async () => {
  f = await startOAuthPlatform('oauthgrants');
});
afterAll(async () => {
  await f?.t.close();
});

const svc = { client_id: 'svc' };
const web = { client_id: 'web' };
const spa = { client_id: 'spa', token_endpoint_auth_method: 'none' };
const legacy = { client_id: 'legacy' };

async function codeFlow(client: oauth.Client, auth: oauth.ClientAuth, scope = 'profile') {
  const verifier = oauth.generateRandomCodeVerifier();
  const state = oauth.generateRandomState();
  const url = new URL(f.as.authorization_endpoint!);
  url.searchParams.set('client_id', client.client_id);
  url.searchParams.set('redirect_uri', REDIRECT);
  url.searchParams.set('response_type', 'code');
  url.searchParams.set('scope', scope);
  url.searchParams.set('state', state);
  url.searchParams.set('code_challenge', await oauth.calculatePKCECodeChallenge(verifier));
  url.searchParams.set('code_challenge_method', 'S256');
  const r = await authorizeInBrowser(url, { email: f.human.email, password: f.humanPassword });
  expect(r.status).toBe(302);
  const params = oauth.validateAuthResponse(f.as, client, new URL(r.location!), state);
  const exchange = () =>
    oauth.authorizationCodeGrantRequest(f.as, client, auth, params, REDIRECT, verifier, insecure);
  return { params, verifier, exchange };
}

describe('metadata and keys', () => {
  it('publishes RFC 8414 metadata whose issuer matches exactly', async () => {
    expect(f.as.issuer).toBe(f.issuer.href);
    expect(f.as.code_challenge_methods_supported).toEqual(['S256']);
    expect(f.as.token_endpoint).toBe(`${f.issuer.href}/token`);
    const unknown = await fetch(
      `http://127.0.0.1:${f.t.httpPort}/.well-known/oauth-authorization-server/oauth2/nope`,
    );
    expect(unknown.status).toBe(404);
  });

  it('tokens verify from outside with jose createRemoteJWKSet, across a key rotation', async () => {
    const jwks = createRemoteJWKSet(new URL(f.as.jwks_uri!));
    const before = await oauth.processClientCredentialsResponse(
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
    const { payload, protectedHeader } = await jwtVerify(before.access_token, jwks, {
      issuer: 'omap',
      audience: 'https://api.example',
      algorithms: ['EdDSA'],
      typ: 'at+jwt',
      requiredClaims: ['exp'],
    });
    expect(payload.client_id).toBe('svc');
    expect(payload.sub).toBe(f.system.id);
    const oldKid = protectedHeader.kid;
    const next = await (
      f.t.platform.services as unknown as { keys: { rotate(): Promise<{ kid: string }> } }
    ).keys.rotate();
    const published = (await (await fetch(f.as.jwks_uri!)).json()) as { keys: { kid: string }[] };
    expect(published.keys.map((k) => k.kid).sort()).toEqual([oldKid, next.kid].sort());
    const after = await oauth.processClientCredentialsResponse(
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
    expect(decodeProtectedHeader(after.access_token).kid).toBe(next.kid);
    const fresh = createRemoteJWKSet(new URL(f.as.jwks_uri!));
    await jwtVerify(before.access_token, fresh, { algorithms: ['EdDSA'], audience: 'omap' });
    await jwtVerify(after.access_token, fresh, { algorithms: ['EdDSA'], audience: 'omap' });
  });
});

describe('client_credentials', () => {
  it('issues a scoped token usable as a Bearer on the REST API', async () => {
    const res = await oauth.clientCredentialsGrantRequest(
      f.as,
      svc,
      oauth.ClientSecretBasic(SECRET),
      new URLSearchParams({ scope: 'telemetry:read' }),
      insecure,
    );
    expect(res.headers.get('cache-control')).toBe('no-store');
    const tokens = await oauth.processClientCredentialsResponse(f.as, svc, res);
    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('telemetry:read');
    expect(tokens.refresh_token).toBeUndefined();
    const me = await f.t.api.as(tokens.access_token).get('/auth/me');
    expect(me.status).toBe(200);
    expect(me.body.user.id).toBe(f.system.id);
  });

  it('also accepts client_secret_post', async () => {
    const tokens = await oauth.processClientCredentialsResponse(
      f.as,
      svc,
      await oauth.clientCredentialsGrantRequest(
        f.as,
        svc,
        oauth.ClientSecretPost(SECRET),
        new URLSearchParams(),
        insecure,
      ),
    );
    expect(tokens.scope).toBe('telemetry:read telemetry:write');
  });

  it('wrong secret: invalid_client, 401 with WWW-Authenticate (Basic)', async () => {
    const res = await oauth.clientCredentialsGrantRequest(
      f.as,
      svc,
      oauth.ClientSecretBasic('wrong-secret-wrong-secret'),
      new URLSearchParams(),
      insecure,
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
    await expect(oauth.processClientCredentialsResponse(f.as, svc, res)).rejects.toBeInstanceOf(
      oauth.WWWAuthenticateChallengeError,
    );
    const post = await oauth.clientCredentialsGrantRequest(
      f.as,
      svc,
      oauth.ClientSecretPost('wrong-secret-wrong-secret'),
      new URLSearchParams(),
      insecure,
    );
    expect(post.status).toBe(401);
    expect(((await post.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('invalid scope (not allowed, or containing a backslash)', async () => {
    for (const scope of ['admin', 'telemetry:read bad\\scope']) {
      const err = await oauth
        .processClientCredentialsResponse(
          f.as,
          svc,
          await oauth.clientCredentialsGrantRequest(
            f.as,
            svc,
            oauth.ClientSecretBasic(SECRET),
            new URLSearchParams({ scope }),
            insecure,
          ),
        )
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(oauth.ResponseBodyError);
      expect((err as oauth.ResponseBodyError).error).toBe('invalid_scope');
    }
  });

  it('a disabled client is refused', async () => {
    const off = { client_id: 'off' };
    const res = await oauth.clientCredentialsGrantRequest(
      f.as,
      off,
      oauth.ClientSecretPost(SECRET),
      new URLSearchParams(),
      insecure,
    );
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: string }).error).toBe('invalid_client');
  });

  it('a grant the client is not configured for: unauthorized_client; an unknown one: unsupported_grant_type', async () => {
    const err = await oauth
      .processGenericTokenEndpointResponse(
        f.as,
        svc,
        await oauth.genericTokenEndpointRequest(
          f.as,
          svc,
          oauth.ClientSecretBasic(SECRET),
          'password',
          new URLSearchParams({ username: f.system.email, password: f.systemPassword }),
          insecure,
        ),
      )
      .catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('unauthorized_client');
    const res = await oauth.genericTokenEndpointRequest(
      f.as,
      svc,
      oauth.ClientSecretBasic(SECRET),
      'urn:example:nope',
      new URLSearchParams(),
      insecure,
    );
    expect(res.status).toBe(400);
    expect(((await res.json()) as { error: string }).error).toBe('unsupported_grant_type');
  });
});

describe('request hygiene and user kinds', () => {
  it('duplicate parameters and a non-form body are invalid_request', async () => {
    const dup = await fetch(f.as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&grant_type=client_credentials&client_id=svc',
    });
    expect(dup.status).toBe(400);
    expect(dup.headers.get('cache-control')).toBe('no-store');
    expect(((await dup.json()) as { error: string }).error).toBe('invalid_request');
    const json = await fetch(f.as.token_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{"grant_type":"client_credentials"}',
    });
    expect(((await json.json()) as { error: string }).error).toBe('invalid_request');
  });

  it('a client whose service user is a human cannot get client_credentials tokens', async () => {
    const clients = defaultClients(f.human.id);
    f.setClients(clients);
    try {
      const res = await oauth.clientCredentialsGrantRequest(
        f.as,
        svc,
        oauth.ClientSecretBasic(SECRET),
        new URLSearchParams(),
        insecure,
      );
      const err = await oauth.processClientCredentialsResponse(f.as, svc, res).catch((e: unknown) => e);
      expect((err as oauth.ResponseBodyError).error).toBe('unauthorized_client');
    } finally {
      f.setClients(defaultClients(f.system.id));
    }
  });
});

describe('authorization_code with PKCE', () => {
  it('a confidential client gets tokens for the human; the previous human token is revoked', async () => {
    const first = await oauth.processAuthorizationCodeResponse(
      f.as,
      web,
      await (await codeFlow(web, oauth.ClientSecretBasic(SECRET))).exchange(),
    );
    expect(first.refresh_token).toBeTypeOf('string');
    expect(decodeJwt(first.access_token).sub).toBe(f.human.id);
    expect((await f.t.api.as(first.access_token).get('/auth/me')).status).toBe(200);
    const second = await oauth.processAuthorizationCodeResponse(
      f.as,
      web,
      await (await codeFlow(web, oauth.ClientSecretBasic(SECRET))).exchange(),
    );
    expect((await f.t.api.as(second.access_token).get('/auth/me')).status).toBe(200);
    expect((await f.t.api.as(first.access_token).get('/auth/me')).status).toBe(401);
  });

  it('a public client needs S256 PKCE', async () => {
    const tokens = await oauth.processAuthorizationCodeResponse(
      f.as,
      spa,
      await (await codeFlow(spa, oauth.None())).exchange(),
    );
    expect(tokens.scope).toBe('profile');
    const url = new URL(f.as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: 'spa',
      redirect_uri: REDIRECT,
      response_type: 'code',
      state: 's',
    }).toString();
    const r = await fetch(url, { redirect: 'manual' });
    expect(r.status).toBe(302);
    const loc = new URL(r.headers.get('location')!);
    expect(loc.searchParams.get('error')).toBe('invalid_request');
    expect(loc.searchParams.get('iss')).toBe(f.issuer.href);
  });

  it('PKCE mismatch: invalid_grant', async () => {
    const flow = await codeFlow(web, oauth.ClientSecretBasic(SECRET));
    const res = await oauth.authorizationCodeGrantRequest(
      f.as,
      web,
      oauth.ClientSecretBasic(SECRET),
      flow.params,
      REDIRECT,
      oauth.generateRandomCodeVerifier(),
      insecure,
    );
    const err = await oauth.processAuthorizationCodeResponse(f.as, web, res).catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_grant');
  });

  it('a reused code is refused and what it gave is revoked', async () => {
    const flow = await codeFlow(web, oauth.ClientSecretBasic(SECRET));
    const tokens = await oauth.processAuthorizationCodeResponse(f.as, web, await flow.exchange());
    const err = await oauth
      .processAuthorizationCodeResponse(f.as, web, await flow.exchange())
      .catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_grant');
    expect((await f.t.api.as(tokens.access_token).get('/auth/me')).status).toBe(401);
  });

  it('an expired code is refused', async () => {
    const server = f.t.platform.oauth.server;
    const saved = server.options.codeTtlSeconds;
    server.options.codeTtlSeconds = -1;
    try {
      const flow = await codeFlow(web, oauth.ClientSecretBasic(SECRET));
      const err = await oauth
        .processAuthorizationCodeResponse(f.as, web, await flow.exchange())
        .catch((e: unknown) => e);
      expect((err as oauth.ResponseBodyError).error).toBe('invalid_grant');
    } finally {
      server.options.codeTtlSeconds = saved;
    }
  });

  it('deny on the consent page redirects with access_denied; a system user cannot log in there', async () => {
    const url = new URL(f.as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: 'web',
      redirect_uri: REDIRECT,
      response_type: 'code',
      state: 'x',
    }).toString();
    const denied = await authorizeInBrowser(url, { email: f.human.email, password: f.humanPassword }, 'deny');
    expect(new URL(denied.location!).searchParams.get('error')).toBe('access_denied');
    const system = await authorizeInBrowser(url, { email: f.system.email, password: f.systemPassword });
    expect(system.status).toBe(401);
    expect(system.page).toContain('token endpoint');
    const bad = await authorizeInBrowser(url, { email: f.human.email, password: 'wrong-password' });
    expect(bad.status).toBe(401);
  });
});

describe('refresh_token', () => {
  it('rotates; reusing an old refresh token revokes the whole family', async () => {
    const auth = oauth.ClientSecretBasic(SECRET);
    const first = await oauth.processAuthorizationCodeResponse(
      f.as,
      web,
      await (await codeFlow(web, auth)).exchange(),
    );
    const second = await oauth.processRefreshTokenResponse(
      f.as,
      web,
      await oauth.refreshTokenGrantRequest(f.as, web, auth, first.refresh_token!, insecure),
    );
    expect(second.refresh_token).not.toBe(first.refresh_token);
    expect((await f.t.api.as(second.access_token).get('/auth/me')).status).toBe(200);
    // Replay of the rotated token: refused, and the family (second's tokens) dies.
    const err = await oauth
      .processRefreshTokenResponse(
        f.as,
        web,
        await oauth.refreshTokenGrantRequest(f.as, web, auth, first.refresh_token!, insecure),
      )
      .catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_grant');
    expect((await f.t.api.as(second.access_token).get('/auth/me')).status).toBe(401);
    const err2 = await oauth
      .processRefreshTokenResponse(
        f.as,
        web,
        await oauth.refreshTokenGrantRequest(f.as, web, auth, second.refresh_token!, insecure),
      )
      .catch((e: unknown) => e);
    expect((err2 as oauth.ResponseBodyError).error).toBe('invalid_grant');
  });

  it('a narrower scope may be asked for, a wider one not', async () => {
    const auth = oauth.ClientSecretBasic(SECRET);
    const first = await oauth.processAuthorizationCodeResponse(
      f.as,
      web,
      await (await codeFlow(web, auth, 'profile')).exchange(),
    );
    const err = await oauth
      .processRefreshTokenResponse(
        f.as,
        web,
        await oauth.refreshTokenGrantRequest(f.as, web, auth, first.refresh_token!, {
          ...insecure,
          additionalParameters: { scope: 'profile telemetry:read' },
        }),
      )
      .catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_scope');
  });
});

describe('revocation and introspection', () => {
  it('introspection needs client authentication; a revoked token is inactive at once', async () => {
    const auth = oauth.ClientSecretBasic(SECRET);
    const tokens = await oauth.processClientCredentialsResponse(
      f.as,
      svc,
      await oauth.clientCredentialsGrantRequest(f.as, svc, auth, new URLSearchParams(), insecure),
    );
    const active = await oauth.processIntrospectionResponse(
      f.as,
      svc,
      await oauth.introspectionRequest(f.as, svc, auth, tokens.access_token, insecure),
    );
    expect(active.active).toBe(true);
    expect(active.client_id).toBe('svc');
    expect(active.scope).toBe('telemetry:read telemetry:write');
    const anonymous = await fetch(f.as.introspection_endpoint!, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ token: tokens.access_token }),
    });
    expect(anonymous.status).toBe(401);
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(f.as, svc, auth, tokens.access_token, insecure),
    );
    const after = await oauth.processIntrospectionResponse(
      f.as,
      svc,
      await oauth.introspectionRequest(f.as, svc, auth, tokens.access_token, insecure),
    );
    expect(after).toEqual({ active: false });
    expect((await f.t.api.as(tokens.access_token).get('/auth/me')).status).toBe(401);
    // Unknown tokens: 200 as well.
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(f.as, svc, auth, 'not-a-token', insecure),
    );
  });

  it('revoking a refresh token kills its family and access token', async () => {
    const auth = oauth.ClientSecretBasic(SECRET);
    const t = await oauth.processAuthorizationCodeResponse(
      f.as,
      web,
      await (await codeFlow(web, auth)).exchange(),
    );
    await oauth.processRevocationResponse(
      await oauth.revocationRequest(f.as, web, auth, t.refresh_token!, {
        ...insecure,
        additionalParameters: { token_type_hint: 'refresh_token' },
      }),
    );
    expect((await f.t.api.as(t.access_token).get('/auth/me')).status).toBe(401);
    const err = await oauth
      .processRefreshTokenResponse(
        f.as,
        web,
        await oauth.refreshTokenGrantRequest(f.as, web, auth, t.refresh_token!, insecure),
      )
      .catch((e: unknown) => e);
    expect((err as oauth.ResponseBodyError).error).toBe('invalid_grant');
  });
});

describe('password and implicit (only for clients configured for them)', () => {
  it('password grant works for a system user of an opted-in client; a human is refused there', async () => {
    const auth = oauth.ClientSecretBasic(SECRET);
    const ok = await oauth.processGenericTokenEndpointResponse(
      f.as,
      legacy,
      await oauth.genericTokenEndpointRequest(
        f.as,
        legacy,
        auth,
        'password',
        new URLSearchParams({ username: f.system.email, password: f.systemPassword }),
        insecure,
      ),
    );
    expect(decodeJwt(ok.access_token).sub).toBe(f.system.id);
    const human = await oauth
      .processGenericTokenEndpointResponse(
        f.as,
        legacy,
        await oauth.genericTokenEndpointRequest(
          f.as,
          legacy,
          auth,
          'password',
          new URLSearchParams({ username: f.human.email, password: f.humanPassword }),
          insecure,
        ),
      )
      .catch((e: unknown) => e);
    expect((human as oauth.ResponseBodyError).error).toBe('invalid_grant');
    expect((human as oauth.ResponseBodyError).error_description).toMatch(/authorization page/);
  });

  it('implicit returns the token in the fragment for the opted-in client only', async () => {
    const url = new URL(f.as.authorization_endpoint!);
    url.search = new URLSearchParams({
      client_id: 'legacy',
      redirect_uri: REDIRECT,
      response_type: 'token',
      state: 'i',
    }).toString();
    const r = await authorizeInBrowser(url, { email: f.human.email, password: f.humanPassword });
    const fragment = new URLSearchParams(new URL(r.location!).hash.slice(1));
    expect(fragment.get('state')).toBe('i');
    expect((await f.t.api.as(fragment.get('access_token')!).get('/auth/me')).status).toBe(200);
    url.searchParams.set('client_id', 'web');
    const refused = await fetch(url, { redirect: 'manual' });
    expect(new URLSearchParams(new URL(refused.headers.get('location')!).hash.slice(1)).get('error')).toBe(
      'unsupported_response_type',
    );
  });
});
