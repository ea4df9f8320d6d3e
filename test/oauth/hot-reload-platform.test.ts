/** End to end: a client file dropped into the platform's clientsDir serves the token endpoint; deleting it ends that. */
import { mkdirSync, mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { createTenant, startPlatform, type TestPlatform } from '../admin/harness.js';

const dir = mkdtempSync(join(tmpdir(), 'omap-oauth-dir-'));
let t: TestPlatform;
beforeAll(async () => {
  mkdirSync(join(dir, 'omap'));
  t = await startPlatform({
    name: 'oauthreload',
    platform: { oauth: { clientsDir: dir, pollIntervalMs: 25 } },
  });
});
afterAll(async () => {
  await t?.close();
  rmSync(dir, { recursive: true, force: true });
});

it('create → usable at the token endpoint; delete → invalid_client', async () => {
  const fx = await createTenant(t.root, 'Reload');
  const svc = (
    await fx.admin.post('/users', {
      email: 'svc@reload.test',
      name: 'svc',
      password: 'svc-password',
      nodeId: fx.tenant.id,
      kind: 'system',
    })
  ).body;
  const watcher = t.platform.oauth.watcher!;
  const path = join(dir, 'omap', 'reload.config.json');
  let next = watcher.nextReload();
  writeFileSync(
    path,
    JSON.stringify({
      tenant: fx.tenant.id,
      clients: [
        {
          clientId: 'svc',
          secret: 'sixteen-chars-secret',
          grantTypes: ['client_credentials'],
          serviceUserId: svc.id,
        },
      ],
    }),
  );
  await next;
  const token = () =>
    fetch(`http://127.0.0.1:${t.httpPort}/oauth2/${fx.tenant.id}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({
        grant_type: 'client_credentials',
        client_id: 'svc',
        client_secret: 'sixteen-chars-secret',
      }),
    });
  const ok = await token();
  expect(ok.status).toBe(200);
  expect(ok.headers.get('cache-control')).toBe('no-store');
  next = watcher.nextReload();
  unlinkSync(path);
  await next;
  const gone = await token();
  expect(gone.status).toBe(401);
  expect(((await gone.json()) as { error: string }).error).toBe('invalid_client');
});
