/** `omap serve` as a user runs it: flags, environment, config file, logs, signals. */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../bin/config.js';
import { run } from '../helpers.js';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
});

function serve(args: string[], env: NodeJS.ProcessEnv = {}) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'bin/omap.ts', 'serve', ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  /** The address logged for `protocol` ("listening" lines), once it appears. */
  const address = (protocol: string): Promise<number> =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no "listening" line for ${protocol}; output: ${out}`)),
        15_000,
      );
      const look = () => {
        for (const line of out.split('\n')) {
          if (!line.includes('"listening"') || !line.includes(`"protocol":"${protocol}"`)) continue;
          clearTimeout(timer);
          child.stdout!.off('data', look);
          resolve((JSON.parse(line) as { port: number }).port);
          return;
        }
      };
      child.stdout!.on('data', look);
      look();
    });
  const listening = address('mqtt').then((port) => {
    const line = out.split('\n').find((l) => l.includes('"protocol":"mqtt"'))!;
    return { port, host: (JSON.parse(line) as { host: string }).host };
  });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, listening, address, exited, output: () => out };
}

describe('omap serve', () => {
  it('starts on the given port, serves mosquitto clients and exits cleanly on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'omap-cli-'));
    const s = serve(['--mqtt-port', '0', '--http-port', '0', '--coap-port', '0', '--data-dir', dataDir]);
    const { port, host } = await s.listening;
    expect(host).toBe('127.0.0.1');
    const httpPort = await s.address('http');
    const health = await fetch(`http://127.0.0.1:${httpPort}/health`);
    expect(health.status).toBe(200);
    const sub = run('mosquitto_sub', ['-p', String(port), '-t', '#', '-v', '-C', '1', '-W', '10']);
    // Retained, so the order of subscribe and publish does not matter.
    await run('mosquitto_pub', ['-p', String(port), '-t', 'cli/test', '-m', 'works', '-r']);
    expect((await sub).stdout.trim()).toBe('cli/test works');
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(s.output()).toContain('"msg":"stopped"');
  });

  it('refuses an unknown option and an invalid value with exit code 2', async () => {
    const unknown = await run(process.execPath, ['--import', 'tsx', 'bin/omap.ts', 'serve', '--nope', '1']);
    expect(unknown.code).toBe(2);
    const invalid = await run(process.execPath, [
      '--import',
      'tsx',
      'bin/omap.ts',
      'serve',
      '--mqtt-port',
      '70000',
    ]);
    expect(invalid.code).toBe(2);
    expect(invalid.stderr).toContain('mqttPort');
  });
});

describe('configuration precedence', () => {
  it('defaults < file < environment < flags', () => {
    const dir = mkdtempSync(join(tmpdir(), 'omap-config-'));
    const file = join(dir, 'omap.json');
    writeFileSync(file, JSON.stringify({ mqttPort: 1000, maxQueued: 5, host: '0.0.0.0' }));
    const c = loadConfig({
      file,
      env: { OMAP_MQTT_PORT: '2000', OMAP_MAX_QUEUED: '7' },
      flags: { 'mqtt-port': '3000' },
    });
    expect(c.mqttPort).toBe(3000);
    expect(c.maxQueued).toBe(7);
    expect(c.host).toBe('0.0.0.0');
    expect(c.maxInflight).toBe(32);
    expect(() => loadConfig({ env: { OMAP_MAX_INFLIGHT: 'lots' } })).toThrow(/maxInflight/);
  });
});
