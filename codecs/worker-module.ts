/**
 * Where a piscina worker module is, running compiled or from source.
 */
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';

export interface WorkerModule {
  filename: string;
  execArgv: string[] | undefined;
}

/**
 * The worker module `name` (without extension) next to the module at `here` (its `import.meta.url`): `name.js`
 * when running compiled, `name.ts` when running from source (vitest, tsx), in which case the worker thread needs
 * the tsx loader too (unless this process already has it, in which case the worker inherits it through
 * `process.execArgv`).
 */
export function workerModule(here: string, name: string): WorkerModule {
  if (!here.endsWith('.ts')) return { filename: new URL(`./${name}.js`, here).href, execArgv: undefined };
  const filename = new URL(`./${name}.ts`, here).href;
  const inherited = process.execArgv.some((arg) => arg.includes('tsx'));
  if (inherited) return { filename, execArgv: undefined };
  const tsx = pathToFileURL(createRequire(here).resolve('tsx')).href;
  return { filename, execArgv: ['--import', tsx] };
}
