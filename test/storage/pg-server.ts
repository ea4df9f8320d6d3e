/**
 * PostgreSQL for tests. With `OMAP_TEST_DATABASE_URL` set (CI), that server is used. Otherwise a
 * throwaway cluster is made from the Debian binaries (`/usr/lib/postgresql/<major>/bin`, or
 * `OMAP_PG_BIN`) in a temp folder, on a free loopback port, and stopped when the last user releases
 * it, so `npm test` needs nothing but the postgresql package. PostgreSQL refuses to run as root:
 * as root the cluster belongs to the `postgres` user and its commands run through `runuser`.
 *
 * Each test file gets its own schema (`testSchema`), so files can share a server and run in parallel.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';

export interface PgServer {
  /** A superuser URL of the server's `postgres` database. */
  readonly url: string;
  /** Stops the throwaway cluster (a no-op for an external server). */
  stop(): Promise<void>;
}

function pgBinDir(): string {
  if (process.env.OMAP_PG_BIN) return process.env.OMAP_PG_BIN;
  const root = '/usr/lib/postgresql';
  const majors = existsSync(root)
    ? readdirSync(root)
        .filter((d) => existsSync(join(root, d, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (majors.length === 0) {
    throw new Error(
      'no PostgreSQL binaries found under /usr/lib/postgresql: install the postgresql package, ' +
        'or set OMAP_TEST_DATABASE_URL to a server the tests may create schemas in',
    );
  }
  return join(root, majors[0]!, 'bin');
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** Runs a PostgreSQL binary, as `postgres` when we are root. */
function pgCommand(bin: string, args: string[]): { cmd: string; args: string[] } {
  if (process.getuid?.() === 0) return { cmd: 'runuser', args: ['-u', 'postgres', '--', bin, ...args] };
  return { cmd: bin, args };
}

function run(bin: string, args: string[], timeoutMs: number): Promise<void> {
  const { cmd, args: argv } = pgCommand(bin, args);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve();
      else reject(new Error(`${bin} ${args.join(' ')} exited with ${code}: ${stderr.trim()}`));
    });
  });
}

async function startThrowawayCluster(): Promise<PgServer> {
  const bin = pgBinDir();
  const dir = mkdtempSync(join(tmpdir(), 'omap-pg-'));
  if (process.getuid?.() === 0) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    chownSync(dir, uid, gid);
  }
  const data = join(dir, 'data');
  const ctl = join(bin, 'pg_ctl');
  await run(
    join(bin, 'initdb'),
    ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-locale', '--no-sync'],
    60_000,
  );
  let port = 0;
  for (let attempt = 0; ; attempt++) {
    port = await freePort();
    const settings = [
      `-p ${port}`,
      `-k ${dir}`,
      '-c listen_addresses=127.0.0.1',
      // Durability is pointless for a throwaway cluster; speed is not.
      '-c fsync=off',
      '-c synchronous_commit=off',
      '-c full_page_writes=off',
      '-c max_connections=200',
    ].join(' ');
    try {
      await run(ctl, ['-D', data, '-o', settings, '-l', join(dir, 'log'), '-w', '-t', '60', 'start'], 70_000);
      break;
    } catch (err) {
      // Another process may have taken the port between our probe and the server's bind.
      if (attempt >= 2) {
        rmSync(dir, { recursive: true, force: true });
        throw err;
      }
    }
  }
  // If the test process dies without stopping the cluster, do not leave a postgres running.
  const onExit = (): void => {
    const { cmd, args } = pgCommand(ctl, ['-D', data, '-m', 'immediate', 'stop']);
    spawnSync(cmd, args, { stdio: 'ignore' });
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('exit', onExit);
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    async stop() {
      if (stopped) return;
      stopped = true;
      process.off('exit', onExit);
      await run(ctl, ['-D', data, '-m', 'fast', '-w', 'stop'], 30_000).catch(() => {
        const { cmd, args } = pgCommand(ctl, ['-D', data, '-m', 'immediate', 'stop']);
        spawnSync(cmd, args, { stdio: 'ignore' });
      });
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

let shared: Promise<PgServer> | null = null;
let users = 0;

/**
 * The test PostgreSQL server, started on first use in this process and shared by its callers;
 * `release()` stops it once every caller has released it.
 */
export async function acquirePostgres(): Promise<PgServer & { release(): Promise<void> }> {
  users++;
  const external = process.env.OMAP_TEST_DATABASE_URL;
  shared ??= external ? Promise.resolve({ url: external, stop: async () => {} }) : startThrowawayCluster();
  let server: PgServer;
  try {
    server = await shared;
  } catch (err) {
    users--;
    shared = null;
    throw err;
  }
  let released = false;
  return {
    url: server.url,
    stop: () => server.stop(),
    async release() {
      if (released) return;
      released = true;
      if (--users === 0) {
        shared = null;
        await server.stop();
      }
    },
  };
}

/** A fresh schema name for one test file (or one test). */
export function testSchema(prefix: string): string {
  return `${prefix.toLowerCase().replace(/[^a-z0-9_]/g, '_')}_${randomBytes(4).toString('hex')}`.slice(0, 60);
}

export async function dropSchema(url: string, schema: string): Promise<void> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS "${schema}" CASCADE`);
  } finally {
    await client.end();
  }
}
