/**
 * The pool must also work from compiled JavaScript (dist/), where it loads `worker.js` next to `pool.js` and no
 * TypeScript loader is around. Compiles codecs/ with tsc into a temporary folder and runs a pool there in plain node.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { repoRoot } from './vectors.js';

const run = promisify(execFile);
let dir = '';

afterAll(async () => {
  if (dir !== '') await rm(dir, { recursive: true, force: true });
});

describe('CodecPool from compiled JS', () => {
  it('runs its worker.js in plain node (no tsx) and closes', { timeout: 180_000 }, async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'omap-codecs-'));
    await symlink(path.join(repoRoot, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
    await writeFile(path.join(dir, 'package.json'), JSON.stringify({ type: 'module' }));
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({
        extends: path.join(repoRoot, 'tsconfig.json'),
        compilerOptions: {
          rootDir: path.join(repoRoot, 'codecs'),
          outDir: path.join(dir, 'codecs'),
          declaration: false,
          sourceMap: false,
          typeRoots: [path.join(repoRoot, 'node_modules/@types')],
        },
        include: [path.join(repoRoot, 'codecs')],
      }),
    );
    const tsc = path.join(repoRoot, 'node_modules/typescript/bin/tsc');
    await run(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { cwd: dir });

    await writeFile(
      path.join(dir, 'main.mjs'),
      `import { CodecPool, encodeSenMLCbor } from './codecs/index.js';
const rows = [];
const pool = new CodecPool({ threads: 2, batchSize: 3, onRows: (r) => { rows.push(...r); } });
const workers = [...pool.threads];
let exited = 0;
for (const w of workers) w.once('exit', () => exited++);
for (let i = 0; i < 6; i++) {
  pool.push({ channel: 'c', subtopic: '', publisher: 'p', protocol: 'mqtt', contentType: 'application/senml+cbor',
    created: 1700000000000, payload: encodeSenMLCbor([{ n: 'dev' + i, v: i }]) });
}
await pool.drain();
await pool.close();
console.log(JSON.stringify({ execArgv: process.execArgv, workers: workers.length, exited, names: rows.map((r) => r.name) }));
`,
    );
    const { stdout } = await run(process.execPath, ['main.mjs'], { cwd: dir, timeout: 60_000 });
    const report = JSON.parse(stdout) as {
      execArgv: string[];
      workers: number;
      exited: number;
      names: string[];
    };
    expect(report.execArgv).toEqual([]);
    expect(report.names).toEqual(['dev0', 'dev1', 'dev2', 'dev3', 'dev4', 'dev5']);
    expect(report.exited).toBe(report.workers);
    expect(report.workers).toBe(2);
  });
});
