/**
 * The OAuth 2.0 endpoints over HTTP. They do not fit the JSON route table (form-encoded bodies,
 * an HTML page, redirects, RFC 6749 error bodies), so they are plain host handlers:
 *
 *   POST /oauth2/:tenant/token        token endpoint (form)
 *   GET  /oauth2/:tenant/authorize    login + consent page
 *   POST /oauth2/:tenant/authorize    the page's form → redirect with code / error
 *   POST /oauth2/:tenant/revoke       RFC 7009
 *   POST /oauth2/:tenant/introspect   RFC 7662 (client authentication required)
 *   GET  /.well-known/oauth-authorization-server/oauth2/:tenant   RFC 8414 metadata
 */

import { type AuthorizeRequest, type Form, OAuthError, type OAuthServer } from '../../auth/oauth/server.js';
import type { ApiReply, ApiRequest, RouteHost } from '../http/host.js';

const NO_STORE = { 'Cache-Control': 'no-store', Pragma: 'no-cache' };
const PAGE_HEADERS = {
  ...NO_STORE,
  'Content-Type': 'text/html; charset=utf-8',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
  'Referrer-Policy': 'no-referrer',
};

export interface OAuthHttpDeps {
  logError(err: unknown, context: Record<string, unknown>): void;
}

function baseOf(request: ApiRequest): string {
  return `http://${request.headers.host ?? 'localhost'}`;
}

function parseForm(text: string): Form {
  const form = new Map<string, string>();
  for (const [k, v] of new URLSearchParams(text)) {
    if (form.has(k)) throw new OAuthError('invalid_request', `parameter "${k}" appears more than once`);
    form.set(k, v);
  }
  return form;
}

async function readForm(request: ApiRequest): Promise<Form> {
  const type = (request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/x-www-form-urlencoded') {
    throw new OAuthError('invalid_request', 'Content-Type must be application/x-www-form-urlencoded');
  }
  return parseForm((await request.body()).toString('utf8'));
}

function queryForm(query: URLSearchParams): Form {
  return parseForm(query.toString());
}

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function loginPage(tenant: string, req: AuthorizeRequest, error: string | null): string {
  const hidden: Record<string, string | null> = {
    response_type: req.responseType,
    client_id: req.client.clientId,
    redirect_uri: req.redirectUri,
    scope: req.scope,
    state: req.state,
    code_challenge: req.codeChallenge,
    code_challenge_method: req.codeChallenge === null ? null : 'S256',
  };
  const fields = Object.entries(hidden)
    .filter((e): e is [string, string] => e[1] !== null)
    .map(([k, v]) => `<input type="hidden" name="${k}" value="${escapeHtml(v)}">`)
    .join('\n    ');
  const scopes =
    req.scope === ''
      ? '<li>(no scopes)</li>'
      : req.scope
          .split(' ')
          .map((s) => `<li>${escapeHtml(s)}</li>`)
          .join('');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Sign in — OMAP</title>
<style>body{font-family:sans-serif;max-width:26em;margin:3em auto}label{display:block;margin:.6em 0}input[type=email],input[type=password]{width:100%}</style></head>
<body>
  <h1>Sign in</h1>
  <p><strong>${escapeHtml(req.client.name)}</strong> asks for access to your account with these scopes:</p>
  <ul>${scopes}</ul>
  ${error === null ? '' : `<p role="alert" style="color:#b00">${escapeHtml(error)}</p>`}
  <form method="post" action="/oauth2/${escapeHtml(tenant)}/authorize">
    ${fields}
    <label>Email <input type="email" name="email" autocomplete="username" required></label>
    <label>Password <input type="password" name="password" autocomplete="current-password" required></label>
    <button type="submit" name="decision" value="allow">Allow</button>
    <button type="submit" name="decision" value="deny" formnovalidate>Deny</button>
  </form>
</body></html>`;
}

export function mountOAuth(host: RouteHost, server: OAuthServer, deps: OAuthHttpDeps): void {
  /** Runs a handler; OAuthError → RFC 6749 error JSON, anything else → logged server_error. */
  const guard =
    (name: string, fn: (request: ApiRequest, reply: ApiReply, tenant: string) => Promise<void>) =>
    async (request: ApiRequest, reply: ApiReply): Promise<void> => {
      const tenant = request.params.tenant ?? '';
      try {
        if (!(await server.tenantExists(tenant))) {
          reply.json(404, { error: 'invalid_request', error_description: 'no such tenant' }, NO_STORE);
          return;
        }
        await fn(request, reply, tenant);
      } catch (err) {
        if (reply.aborted) return;
        if (err instanceof OAuthError) {
          reply.json(
            err.status,
            { error: err.error, error_description: err.description },
            { ...NO_STORE, ...err.headers },
          );
          return;
        }
        const status = (err as { status?: unknown }).status;
        if (typeof status === 'number' && status >= 400 && status < 500) {
          reply.json(
            status,
            { error: 'invalid_request', error_description: (err as Error).message },
            NO_STORE,
          );
          return;
        }
        deps.logError(err, { endpoint: name, tenant });
        reply.json(500, { error: 'server_error', error_description: 'internal error' }, NO_STORE);
      }
    };

  host.route(
    'post',
    '/oauth2/:tenant/token',
    guard('token', async (request, reply, tenant) => {
      const form = await readForm(request);
      const result = await server.token(tenant, form, request.headers.authorization);
      reply.json(200, result, NO_STORE);
    }),
  );

  host.route(
    'post',
    '/oauth2/:tenant/revoke',
    guard('revoke', async (request, reply, tenant) => {
      await server.revoke(tenant, await readForm(request), request.headers.authorization);
      reply.send(200, '', NO_STORE);
    }),
  );

  host.route(
    'post',
    '/oauth2/:tenant/introspect',
    guard('introspect', async (request, reply, tenant) => {
      const form = await readForm(request);
      const issuer = server.issuer(baseOf(request), tenant);
      reply.json(200, await server.introspect(tenant, form, request.headers.authorization, issuer), NO_STORE);
    }),
  );

  const authorize = (method: 'get' | 'post') =>
    guard('authorize', async (request, reply, tenant) => {
      const params = method === 'get' ? queryForm(request.query) : await readForm(request);
      const issuer = server.issuer(baseOf(request), tenant);
      const outcome = server.checkAuthorize(tenant, params, issuer);
      if (outcome.kind === 'error-page') {
        reply.send(
          outcome.status,
          `<!doctype html><title>Error</title><p>${escapeHtml(outcome.message)}</p>`,
          PAGE_HEADERS,
        );
        return;
      }
      if (outcome.kind === 'redirect') {
        reply.send(302, '', { ...NO_STORE, Location: outcome.location });
        return;
      }
      if (method === 'get') {
        reply.send(200, loginPage(tenant, outcome.request, null), PAGE_HEADERS);
        return;
      }
      const result = await server.completeAuthorize(outcome.request, issuer, {
        allow: params.get('decision') === 'allow',
        email: params.get('email') ?? '',
        password: params.get('password') ?? '',
      });
      if ('loginError' in result) {
        reply.send(401, loginPage(tenant, outcome.request, result.loginError), PAGE_HEADERS);
        return;
      }
      reply.send(302, '', { ...NO_STORE, Location: result.location });
    });
  host.route('get', '/oauth2/:tenant/authorize', authorize('get'));
  host.route('post', '/oauth2/:tenant/authorize', authorize('post'));

  host.route(
    'get',
    '/.well-known/oauth-authorization-server/oauth2/:tenant',
    guard('metadata', async (request, reply, tenant) => {
      reply.json(200, server.metadata(baseOf(request), tenant), { 'Cache-Control': 'max-age=300' });
    }),
  );
}
