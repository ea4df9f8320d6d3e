/** A platform with one tenant, a human and a system user, and OAuth clients registered in code. */
import * as oauth from 'oauth4webapi';
import { type ClientDefinition, parseClientFile } from '../../auth/oauth/clients.js';
import { type Api, createTenant, type Json, startPlatform, type TestPlatform } from '../admin/harness.js';

export const SECRET = 'confidential-secret:with/odd+chars';
export const REDIRECT = 'https://app.example/callback';
export const insecure = { [oauth.allowInsecureRequests]: true } as const;

export interface OAuthFixture {
  t: TestPlatform;
  tenantId: string;
  human: Json;
  humanPassword: string;
  system: Json;
  systemPassword: string;
  admin: Api;
  issuer: URL;
  as: oauth.AuthorizationServer;
  /** Replaces the tenant's test clients. */
  setClients(clients: ClientDefinition[]): void;
}

export async function startOAuthPlatform(name: string): Promise<OAuthFixture> {
  const t = await startPlatform({ name });
  const fx = await createTenant(t.root, name);
  const tenantId: string = fx.tenant.id;
  const humanPassword = 'human-password';
  const systemPassword = 'system-password';
  const human = (
    await fx.admin.post('/users', {
      email: `alice@${name}.test`,
      name: 'Alice',
      password: humanPassword,
      nodeId: tenantId,
    })
  ).body;
  const system = (
    await fx.admin.post('/users', {
      email: `svc@${name}.test`,
      name: 'Service',
      password: systemPassword,
      nodeId: tenantId,
      kind: 'system',
    })
  ).body;
  if (human.id === undefined || system.id === undefined) throw new Error('user creation failed');
  const setClients = (clients: ClientDefinition[]) => {
    const parsed = parseClientFile({ tenant: tenantId, clients }, 'test');
    t.platform.oauth.clients.set('test', parsed.tenantId, parsed.clients);
  };
  setClients(defaultClients(system.id));
  const issuer = new URL(`http://127.0.0.1:${t.httpPort}/oauth2/${tenantId}`);
  const as = await oauth.processDiscoveryResponse(
    issuer,
    await oauth.discoveryRequest(issuer, { algorithm: 'oauth2', ...insecure }),
  );
  return {
    t,
    tenantId,
    human,
    humanPassword,
    system,
    systemPassword,
    admin: fx.admin,
    issuer,
    as,
    setClients,
  };
}

export function defaultClients(serviceUserId: string): ClientDefinition[] {
  return [
    {
      clientId: 'svc',
      secret: SECRET,
      grantTypes: ['client_credentials'],
      scopes: ['telemetry:read', 'telemetry:write'],
      audiences: ['https://api.example'],
      serviceUserId,
    },
    {
      clientId: 'web',
      secret: SECRET,
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: [REDIRECT],
      scopes: ['profile', 'telemetry:read'],
    },
    {
      clientId: 'spa',
      grantTypes: ['authorization_code', 'refresh_token'],
      redirectUris: [REDIRECT],
      scopes: ['profile'],
    },
    {
      clientId: 'legacy',
      secret: SECRET,
      grantTypes: ['password', 'implicit', 'refresh_token'],
      redirectUris: [REDIRECT],
      scopes: ['profile'],
    },
    {
      clientId: 'off',
      secret: SECRET,
      grantTypes: ['client_credentials'],
      serviceUserId,
      enabled: false,
    },
  ];
}

/**
 * Drives the authorization endpoint as a browser would: GET the page, POST the form with the
 * user's credentials and decision; returns the redirect Location.
 */
export async function authorizeInBrowser(
  authorizationUrl: URL,
  credentials: { email: string; password: string },
  decision: 'allow' | 'deny' = 'allow',
): Promise<{ status: number; location: string | null; page: string }> {
  const page = await fetch(authorizationUrl, { redirect: 'manual' });
  const html = await page.text();
  if (page.status !== 200) return { status: page.status, location: page.headers.get('location'), page: html };
  const form = new URLSearchParams();
  for (const m of html.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)) {
    form.set(
      m[1]!,
      m[2]!
        .replace(/&quot;/g, '"')
        .replace(/&#39;/g, "'")
        .replace(/&lt;/g, '<')
        .replace(/&gt;/g, '>')
        .replace(/&amp;/g, '&'),
    );
  }
  form.set('email', credentials.email);
  form.set('password', credentials.password);
  form.set('decision', decision);
  const action = /<form method="post" action="([^"]+)"/.exec(html)![1]!;
  const posted = await fetch(new URL(action, authorizationUrl), {
    method: 'POST',
    body: form,
    redirect: 'manual',
  });
  return { status: posted.status, location: posted.headers.get('location'), page: await posted.text() };
}
