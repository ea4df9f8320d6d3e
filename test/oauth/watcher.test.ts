/** Hot reload of OAuth client files: create, change, rename, delete, malformed — awaiting the reload event. */
import { mkdirSync, mkdtempSync, renameSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ClientRegistry } from '../../auth/oauth/clients.js';
import { ClientWatcher, isClientFile } from '../../auth/oauth/watcher.js';

let root: string;
let registry: ClientRegistry;
let watcher: ClientWatcher;
const warnings: object[] = [];

function file(tenant: string, ids: string[], extra: object = {}): string {
  return JSON.stringify({
    tenant,
    clients: ids.map((clientId) => ({
      clientId,
      grantTypes: ['client_credentials'],
      secret: 'a-long-enough-secret',
      serviceUserId: 'u1',
      ...extra,
    })),
  });
}

beforeEach(async () => {
  root = mkdtempSync(join(tmpdir(), 'omap-clients-'));
  mkdirSync(join(root, 'site', 'omap'), { recursive: true });
  registry = new ClientRegistry();
  warnings.length = 0;
  watcher = new ClientWatcher(registry, {
    root,
    pollIntervalMs: 25,
    logger: { info() {}, warn: (obj) => warnings.push(obj) },
  });
  await watcher.start();
});

afterEach(() => {
  watcher.stop();
  rmSync(root, { recursive: true, force: true });
});

describe('client file hot reload', () => {
  it('matches only *.config.json directly inside a folder named omap', () => {
    expect(isClientFile('/x/omap/a.config.json')).toBe(true);
    expect(isClientFile('/x/omap/deeper/a.config.json')).toBe(false);
    expect(isClientFile('/x/omapx/a.config.json')).toBe(false);
    expect(isClientFile('/x/omap/a.json')).toBe(false);
  });

  it('a new file creates its tenant clients (found recursively)', async () => {
    const next = watcher.nextReload();
    writeFileSync(join(root, 'site', 'omap', 'acme.config.json'), file('t1', ['a', 'b']));
    writeFileSync(join(root, 'site', 'ignored.config.json'), file('t1', ['zzz']));
    const event = await next;
    expect(event.added).toEqual([join(root, 'site', 'omap', 'acme.config.json')]);
    expect(
      registry
        .ofTenant('t1')
        .map((c) => c.clientId)
        .sort(),
    ).toEqual(['a', 'b']);
  });

  it('a changed file updates its clients', async () => {
    const path = join(root, 'site', 'omap', 'acme.config.json');
    let next = watcher.nextReload();
    writeFileSync(path, file('t1', ['a', 'b']));
    await next;
    next = watcher.nextReload();
    writeFileSync(path, file('t1', ['b', 'c'], { enabled: false }));
    const event = await next;
    expect(event.changed).toEqual([path]);
    expect(
      registry
        .ofTenant('t1')
        .map((c) => c.clientId)
        .sort(),
    ).toEqual(['b', 'c']);
    expect(registry.get('t1', 'b')?.enabled).toBe(false);
    expect(registry.get('t1', 'a')).toBeUndefined();
  });

  it('deleting the file removes its clients', async () => {
    const path = join(root, 'site', 'omap', 'acme.config.json');
    let next = watcher.nextReload();
    writeFileSync(path, file('t1', ['a']));
    await next;
    next = watcher.nextReload();
    unlinkSync(path);
    expect((await next).removed).toEqual([path]);
    expect(registry.get('t1', 'a')).toBeUndefined();
  });

  it('a rename is a delete plus a create', async () => {
    const from = join(root, 'site', 'omap', 'a.config.json');
    const to = join(root, 'site', 'omap', 'b.config.json');
    let next = watcher.nextReload();
    writeFileSync(from, file('t1', ['a']));
    await next;
    next = watcher.nextReload();
    renameSync(from, to);
    const event = await next;
    expect(event.removed).toEqual([from]);
    expect(event.added).toEqual([to]);
    expect(registry.get('t1', 'a')?.source).toBe(to);
    // Renamed out of the pattern: only a delete.
    next = watcher.nextReload();
    renameSync(to, join(root, 'site', 'omap', 'b.json'));
    expect((await next).removed).toEqual([to]);
    expect(registry.get('t1', 'a')).toBeUndefined();
  });

  it('a malformed file is logged with the reason and changes nothing', async () => {
    const path = join(root, 'site', 'omap', 'acme.config.json');
    let next = watcher.nextReload();
    writeFileSync(path, file('t1', ['a']));
    await next;
    for (const [text, reason] of [
      ['{ not json', /JSON/],
      [
        JSON.stringify({ tenant: 't1', clients: [{ clientId: 'a', grantTypes: ['magic'] }] }),
        /unknown grant/,
      ],
      [file('t1', ['x'], { scopes: ['bad scope'] }), /valid scope token/],
    ] as const) {
      next = watcher.nextReload();
      writeFileSync(path, text);
      const event = await next;
      expect(event.errors).toHaveLength(1);
      expect(event.errors[0]!.reason).toMatch(reason);
      expect(event.changed).toEqual([]);
      expect(registry.ofTenant('t1').map((c) => c.clientId)).toEqual(['a']);
    }
    expect(warnings.length).toBe(3);
    // Fixing the file applies it.
    next = watcher.nextReload();
    writeFileSync(path, file('t1', ['fixed']));
    expect((await next).changed).toEqual([path]);
    expect(registry.ofTenant('t1').map((c) => c.clientId)).toEqual(['fixed']);
  });
});
