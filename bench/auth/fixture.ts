/**
 * A platform with one tenant and N things, each connected to its own channel (publish and
 * subscribe), built through the services (no HTTP), on SQLite in a temp folder.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPlatform, type Platform } from '../../admin/platform.js';

export interface BenchThing {
  id: string;
  secret: string;
  channelId: string;
}

export interface BenchPlatform {
  platform: Platform;
  things: BenchThing[];
  close(): Promise<void>;
}

export async function benchPlatform(pairs: number): Promise<BenchPlatform> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omap-bench-auth-'));
  const platform = await createPlatform({
    dataDir,
    admin: { email: 'bench@omap.test', password: 'bench-password' },
    passwordCost: { memoryCost: 1024, timeCost: 1, parallelism: 1 },
  });
  const s = platform.services;
  const token = await s.sessions.login('bench@omap.test', 'bench-password');
  const root = (await s.sessions.actor(token.token))!;
  const tenant = await s.nodes.createTenant(root, { name: 'bench' });
  const things: BenchThing[] = [];
  for (let i = 0; i < pairs * 2; i++) {
    const { thing, secret } = await s.things.create(root, { nodeId: tenant.id, name: `thing-${i}` });
    // Publisher 2k and subscriber 2k+1 share channel k.
    const channelId =
      i % 2 === 0
        ? (await s.channels.create(root, { nodeId: tenant.id, name: `channel-${i / 2}` })).id
        : things[i - 1]!.channelId;
    await s.channels.connect(root, channelId, thing.id, { publish: true, subscribe: true });
    things.push({ id: thing.id, secret, channelId });
  }
  return {
    platform,
    things,
    async close() {
      await platform.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
