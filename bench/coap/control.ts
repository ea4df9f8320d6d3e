/** The IPC protocol between run.ts and a benchmark server process. */

export type ToServer = { type: 'count' } | { type: 'exit' };
export type FromServer =
  | { type: 'ready'; port: number; pid: number }
  | { type: 'count'; counters: Record<string, number> };

/**
 * Reports readiness to the parent, answers `count` (the server's counters plus `cpuMicros`, its CPU time
 * so far: throughput per CPU-second stays meaningful when the machine is shared), exits on `exit`.
 */
export function serveControl(
  port: number,
  counters: () => Record<string, number>,
  close: () => Promise<void>,
): void {
  const send = (message: FromServer): void => {
    process.send?.(message);
  };
  process.on('message', (message: ToServer) => {
    if (message.type === 'count') {
      const cpu = process.cpuUsage();
      send({ type: 'count', counters: { ...counters(), cpuMicros: cpu.user + cpu.system } });
    } else if (message.type === 'exit') void close().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
  send({ type: 'ready', port, pid: process.pid });
}
