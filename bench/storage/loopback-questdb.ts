/**
 * The loopback QuestDB endpoint (fake-questdb-server.ts) as a child process, for the storage benchmarks: its port,
 * and IPC to switch its answers, read its counters and stop it.
 */
import { type ChildProcess, fork } from 'node:child_process';
import { once } from 'node:events';

export interface FakeProcess {
  child: ChildProcess;
  port: number;
  mode(mode: 'ok' | 'error' | 'hang'): Promise<void>;
  stats(): Promise<{ acknowledged: number; requests: number }>;
  stop(): Promise<void>;
}

export async function startFake(): Promise<FakeProcess> {
  const child = fork(new URL('./fake-questdb-server.ts', import.meta.url), {
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const [ready] = (await once(child, 'message')) as [{ type: string; port: number }];
  const request = async <T>(message: object): Promise<T> => {
    const reply = once(child, 'message') as Promise<[T]>;
    child.send(message);
    return (await reply)[0];
  };
  return {
    child,
    port: ready.port,
    mode: async (mode) => {
      await request({ type: 'mode', mode });
    },
    stats: () => request({ type: 'stats' }),
    stop: async () => {
      const exited = once(child, 'exit');
      child.send({ type: 'stop' });
      await exited;
    },
  };
}
