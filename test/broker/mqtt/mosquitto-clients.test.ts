/** Interoperability with Debian's mosquitto_pub / mosquitto_sub (MQTT 3.1.1 and 5). */
import { spawn } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { run, startBroker, type TestBroker, until } from '../../helpers.js';

let tb: TestBroker;
beforeEach(async () => {
  tb = await startBroker();
});
afterEach(async () => {
  await tb.close();
});

/** Starts mosquitto_sub and resolves once the broker has registered its subscription. */
async function subscribe(args: string[]) {
  const before = tb.broker.core.router.index.size;
  const child = spawn('mosquitto_sub', ['-h', '127.0.0.1', '-p', String(tb.port), ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise<string>((resolve) => child.on('close', () => resolve(out)));
  const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
  await until(() => tb.broker.core.router.index.size > before, 5000, 'mosquitto_sub to subscribe');
  return { done: done.finally(() => clearTimeout(timer)), output: () => out };
}

const pub = (args: string[]) => run('mosquitto_pub', ['-h', '127.0.0.1', '-p', String(tb.port), ...args]);

describe('mosquitto clients', () => {
  it.each([['mqttv311'], ['mqttv5']])('publish and subscribe at QoS 0/1/2 with %s', async (version) => {
    const sub = await subscribe(['-V', version, '-t', 'm/#', '-v', '-q', '2', '-C', '3']);
    for (const q of ['0', '1', '2']) {
      const r = await pub(['-V', version, '-t', `m/q${q}`, '-m', `payload ${q}`, '-q', q]);
      expect(r.code).toBe(0);
    }
    expect((await sub.done).trim().split('\n')).toEqual([
      'm/q0 payload 0',
      'm/q1 payload 1',
      'm/q2 payload 2',
    ]);
  });

  it('retained messages reach a later mosquitto_sub through a/+/c', async () => {
    expect((await pub(['-t', 'a/b/c', '-m', 'kept', '-r', '-q', '1'])).code).toBe(0);
    const r = await run('mosquitto_sub', [
      '-h',
      '127.0.0.1',
      '-p',
      String(tb.port),
      '-t',
      'a/+/c',
      '-v',
      '-C',
      '1',
      '-W',
      '5',
    ]);
    expect(r.stdout.trim()).toBe('a/b/c kept');
  });

  it('a will set by mosquitto_sub is published when it is killed', async () => {
    const watcher = await subscribe(['-t', 'wills/#', '-v', '-C', '1']);
    const victim = await subscribe([
      '-t',
      'x',
      '--will-topic',
      'wills/sub',
      '--will-payload',
      'bye',
      '-i',
      'victim',
    ]);
    expect(victim.output()).toBe('');
    // SIGKILL: no DISCONNECT is sent, the socket just goes away.
    const pids = await run('pgrep', ['-f', 'will-payload bye']);
    for (const pid of pids.stdout.trim().split('\n').filter(Boolean)) process.kill(Number(pid), 'SIGKILL');
    expect((await watcher.done).trim()).toBe('wills/sub bye');
  });

  it('mosquitto_sub -t "#" sees messages from every other client', async () => {
    const sub = await subscribe(['-t', '#', '-v', '-C', '2']);
    await pub(['-t', 'one', '-m', '1']);
    tb.broker.publish({ topic: 'two', payload: '2' });
    expect((await sub.done).trim().split('\n')).toEqual(['one 1', 'two 2']);
  });
});
