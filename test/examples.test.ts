/** The README's embedding example runs as documented. */
import { spawn } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { run } from './helpers.js';

describe('examples/embed.ts', () => {
  it('accepts authorized publishes, refuses others, and stops on SIGINT', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'examples/embed.ts'], {
      env: { ...process.env, PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const killer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    let out = '';
    const port = await new Promise<number>((resolve) => {
      child.stdout.on('data', (d) => {
        out += d;
        const m = /MQTT on [^:]+:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
    });
    const retained = await run('mosquitto_sub', [
      '-p',
      String(port),
      '-t',
      'sensors/#',
      '-v',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    expect(retained.stdout.trim()).toBe('sensors/status online');
    await run('mosquitto_pub', ['-p', String(port), '-t', 'elsewhere', '-m', 'refused', '-q', '1']);
    await run('mosquitto_pub', [
      '-p',
      String(port),
      '-t',
      'sensors/t1',
      '-m',
      '21.5',
      '-q',
      '1',
      '-i',
      'dev1',
    ]);
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    child.kill('SIGINT');
    expect(await exited).toBe(0);
    clearTimeout(killer);
    expect(out).toContain('dev1 -> sensors/t1: 21.5');
    expect(out).not.toContain('refused');
  });
});
