/**
 * What the storage tap costs the forwarding path: `omap serve` with `--store-messages false` and `true`, runs
 * interleaved, the same load (pairs, QoS 0, valid SenML JSON payloads on `channels/<id>/messages` topics) from
 * bench/load/run.ts. Prints medians with min–max and the on/off ratio, plus what the storage path did with the
 * messages (rows written to the embedded store, messages shed by the codec pool under overload).
 *
 *   npm run build && npx tsx bench/storage/tap.ts [--runs 3] [--duration 5] [--rate N] [--pin all|split]
 *                                                 [--scenario pairs] [--qos 0] [--payload 85] [--e2e-window 512]
 *
 * Pinning (taskset): `all` (default) pins the whole broker process to core 0 and the load generator alone to
 * core 1, as bench:compare does: the storage path's threads (codec workers, the SQLite writer; niced 19 below the
 * I/O thread, see codecs/thread-priority.ts) share the broker's core and get what forwarding leaves. `split` puts
 * the I/O thread alone on core 0 and every other thread of the broker on core 1 with the generator (there the
 * storage work slows the generator down, which shows up as less offered load).
 * Without `--rate` the generator keeps a fixed `--e2e-window` (default 512) messages in flight towards each
 * subscriber in both modes. The generator's own search for the best window (`auto`) picks different windows from
 * run to run, which made the off runs alone range over 2×; with the window fixed, runs of one mode agree within
 * about 20 % here, and the comparison is between equal offered concurrency.
 * With `--rate`, the generator offers a fixed rate: compare broker CPU and latency at a rate storage can sustain;
 * the storage columns then say whether it did (nothing shed, every row written: the end-to-end rows/s from MQTT to
 * the store is at least twice the rate, two SenML records per message).
 * `--store questdb-loopback` writes to the loopback QuestDB endpoint (bench/storage/fake-questdb-server.ts, its own
 * process, pinned with the generator) instead of the embedded SQLite history.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  freePort,
  omapServeArgs,
  probeMqtt,
  REPO_ROOT,
  spawnPinned,
  stopAllBrokers,
  tasksetPath,
} from '../brokers/launch.js';
import type { TrafficResult } from '../load/generator.js';
import { threadCpuSeconds } from '../load/procstat.js';
import { type FakeProcess, startFake } from './loopback-questdb.js';

const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    duration: { type: 'string', default: '5' },
    rate: { type: 'string' },
    pin: { type: 'string', default: 'all' },
    scenario: { type: 'string', default: 'pairs' },
    qos: { type: 'string', default: '0' },
    payload: { type: 'string', default: '85' },
    store: { type: 'string', default: 'sqlite' },
    'e2e-window': { type: 'string', default: '512' },
  },
});
const QUESTDB = values.store === 'questdb-loopback';
const RUNS = Number(values.runs);
const PIN = values.pin === 'split' ? 'split' : 'all';

interface StorageStats {
  pool: { accepted: number; delivered: number; droppedOverload: number; rows: number; invalid: number };
  store: {
    writtenRows: number;
    deadLettered: number;
    droppedRows: number;
    /** Store batches that went through the disk spool (memory bound passed while the store lagged, or an outage). */
    spilledBatches: number;
    writtenBatches: number;
    /** Rows still in the spool when the broker had stopped (written by the next start). */
    spoolRows: number;
  };
}

interface Sample {
  mode: 'off' | 'on';
  delivered: number;
  /** CPU time of the broker's main (I/O) thread per message received over the whole generator run, µs. */
  mainUsPerMessage: number;
  loss: number;
  brokerCpu: number;
  p99: number | null;
  storage: StorageStats | null;
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function pinThreads(pid: number): void {
  const taskset = tasksetPath();
  if (taskset === null) throw new Error('taskset (util-linux) is needed');
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const cpu = PIN === 'all' || tid === String(pid) ? '0' : '1';
    execFileSync(taskset, ['-p', '-c', cpu, tid], { stdio: 'ignore' });
  }
}

/** The loopback QuestDB endpoint in its own process, pinned to the generator's core. */
async function startLoopbackQuestDB(): Promise<FakeProcess> {
  const fake = await startFake();
  if (fake.child.pid !== undefined)
    execFileSync(tasksetPath()!, ['-a', '-p', '-c', '1', String(fake.child.pid)], { stdio: 'ignore' });
  return fake;
}

async function runOnce(mode: 'off' | 'on'): Promise<Sample> {
  const dataDir = mkdtempSync(join(tmpdir(), 'omap-bench-tap-'));
  const port = await freePort();
  const questdb = QUESTDB && mode === 'on' ? await startLoopbackQuestDB() : null;
  const child = spawnPinned(
    process.execPath,
    omapServeArgs(port, [
      '--data-dir',
      dataDir,
      '--store-messages',
      mode === 'on' ? 'true' : 'false',
      ...(questdb === null ? [] : ['--questdb', `http::addr=127.0.0.1:${questdb.port}`]),
    ]),
    null,
  );
  let out = '';
  child.stdout?.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  try {
    const deadline = Date.now() + 15_000;
    while (!(await probeMqtt('127.0.0.1', port, 500))) {
      if (Date.now() > deadline || child.exitCode !== null) throw new Error(`broker did not start:\n${out}`);
      await sleep(50);
    }
    const pid = child.pid!;
    pinThreads(pid);
    const args = [
      '-c',
      '1',
      process.execPath,
      '--import',
      'tsx',
      'bench/load/run.ts',
      '--port',
      String(port),
      '--scenario',
      values.scenario,
      '--qos',
      values.qos,
      '--payload',
      values.payload,
      '--senml',
      '--duration',
      values.duration,
      '--topic-prefix',
      'channels/bench/messages',
      '--broker-pid',
      String(pid),
    ];
    if (values.rate !== undefined) args.push('--rate', values.rate);
    if (values.rate === undefined) args.push('--e2e-window', values['e2e-window']);
    const cpuBefore = threadCpuSeconds(pid, pid) ?? Number.NaN;
    const json = execFileSync(tasksetPath()!, args, {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: (Number(values.duration) + 60) * 1000,
    });
    const mainCpu = (threadCpuSeconds(pid, pid) ?? Number.NaN) - cpuBefore;
    const r = JSON.parse(json.trim().split('\n').pop()!) as TrafficResult;
    child.kill('SIGTERM');
    await Promise.race([exited, sleep(20_000)]);
    let storage: StorageStats | null = null;
    for (const line of out.split('\n')) {
      if (line.includes('"storage path closed"')) storage = JSON.parse(line) as StorageStats;
    }
    return {
      mode,
      delivered: r.deliveredPerSec,
      mainUsPerMessage: (mainCpu * 1e6) / Math.max(1, r.receivedTotal),
      loss: r.loss,
      brokerCpu: r.broker?.cpuPct ?? 0,
      p99: r.latencyMs?.p99 ?? null,
      storage,
    };
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
    await questdb?.stop();
    await stopAllBrokers();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

const fmt = (n: number): string => Math.round(n).toLocaleString('en-US');

async function main(): Promise<void> {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    for (const mode of ['off', 'on'] as const) {
      const s = await runOnce(mode);
      samples.push(s);
      const st = s.storage;
      const extra =
        st === null
          ? ''
          : `, accepted ${fmt(st.pool.accepted)}, rows written ${fmt(st.store.writtenRows)}, ` +
            `shed ${fmt(st.pool.droppedOverload)}, invalid ${fmt(st.pool.invalid)}, ` +
            `spilled ${st.store.spilledBatches} of ${st.store.writtenBatches} store batches, ` +
            `left in the spool ${fmt(st.store.spoolRows)}`;
      console.error(
        `run ${i + 1} ${mode}: ${fmt(s.delivered)} msgs/s, loss ${s.loss}, broker CPU ${s.brokerCpu} %, ` +
          `main thread ${s.mainUsPerMessage.toFixed(2)} µs/msg` +
          `${s.p99 === null ? '' : `, p99 ${s.p99} ms`}${extra}`,
      );
    }
  }
  const row = (
    mode: 'off' | 'on',
  ): { med: number; min: number; max: number; cpu: number; main: number; p99: string } => {
    const xs = samples.filter((s) => s.mode === mode);
    const d = xs.map((s) => s.delivered);
    const p = xs.map((s) => s.p99).filter((v): v is number => v !== null);
    return {
      med: median(d),
      min: Math.min(...d),
      max: Math.max(...d),
      cpu: median(xs.map((s) => s.brokerCpu)),
      main: median(xs.map((s) => s.mainUsPerMessage)),
      p99: p.length === 0 ? '–' : `${median(p)} ms`,
    };
  };
  const off = row('off');
  const on = row('on');
  console.log(
    `\n${values.scenario} QoS ${values.qos}, SenML ${values.payload} B, ${RUNS} runs, pin ${PIN}, store ${values.store}` +
      `${values.rate === undefined ? '' : `, rate ${values.rate}/s`}`,
  );
  console.log('| storage | delivered msgs/s (median, min–max) | broker CPU % | main thread µs/msg | p99 |');
  console.log('|---|---|---|---|---|');
  for (const [name, r] of [
    ['off', off],
    ['on', on],
  ] as const) {
    console.log(
      `| ${name} | ${fmt(r.med)} (${fmt(r.min)}–${fmt(r.max)}) | ${r.cpu} | ${r.main.toFixed(2)} | ${r.p99} |`,
    );
  }
  // Runs are interleaved (off, on, off, on, ...): the ratio within each pair cancels slow drifts of the machine.
  const pairs = samples
    .filter((s) => s.mode === 'on')
    .map((on, i) => on.delivered / samples[2 * i]!.delivered);
  console.log(
    `delivered on/off = ${(on.med / off.med).toFixed(3)} (medians); per pair ` +
      `${pairs.map((r) => r.toFixed(2)).join(' / ')}, median ${median(pairs).toFixed(3)}; ` +
      `main-thread CPU per message on/off = ${(on.main / off.main).toFixed(3)}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exitCode = 1;
});
