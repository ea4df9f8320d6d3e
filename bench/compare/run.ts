// Side-by-side comparison: OMAP vs Mosquitto vs Aedes, each on a free loopback port and pinned to
// one core, the load generator (bench/load/run.ts, a child process) pinned to the other. The
// matrix runs N times with the brokers interleaved; medians and min-max per row, ratios OMAP/x.
// Writes bench/results/latest.md, latest.svg and a dated JSON with every raw result.
//
//   npm run bench:compare -- [--quick] [--rows pairs-q0-64,idle-10k] [--runs 3] [--duration 5]
//
// Every broker/generator process is started in its own process group and stopped by that group
// only (also on SIGINT/SIGTERM and on exceptions).

import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { basename, join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  BROKERS,
  type BrokerName,
  killAllBrokersSync,
  mosquittoPath,
  mosquittoVersion,
  REPO_ROOT,
  type RunningBroker,
  startBroker,
  stopAllBrokers,
  stopChild,
  tasksetPath,
  track,
  unavailableReason,
} from '../brokers/launch.js';
import type { LoadResult } from '../load/generator.js';
import { fdLimit, tryRaiseFdLimit } from '../load/procstat.js';
import {
  BROKER_LABEL,
  type CompareConfig,
  type CompareReport,
  type Environment,
  renderMarkdown,
  renderSvg,
  type Sample,
} from './report.js';
import { fullMatrix, parseRow, QUICK_ROWS, type Row } from './rows.js';

const HELP = `Usage: npm run bench:compare -- [options]

  --quick                 small matrix (${QUICK_ROWS.join(', ')}), 2 s windows
  --rows a,b,...          rows to run, e.g. pairs-q0-64,fanin-q1-1k,pairs-q0-64-r20k,idle-10k
  --brokers a,b,...       subset of omap,mosquitto,aedes (default: all)
  --runs <n>              repetitions of the matrix, brokers interleaved (default 3)
  --duration <s>          measurement window per cell (default 5, quick 2)
  --warmup <s>            warm-up per cell (default 1, quick 0.5)
  --grace <s>             max wait for in-flight messages (default 3)
  --rate <msgs/s>         rate of the latency rows of the full matrix (default 20000)
  --idle-hold <s>         idle rows: hold time before reading RSS (default 3)
  --e2e-window <n|auto>   closed loop: max messages in flight towards each subscriber; auto (default)
                          searches the smallest window near the best rate per measurement; 0 = open loop
  --window <n>            QoS 1 in-flight per publisher (default 100)
  --batch <n>             packets per write (default 64)
  --nodelay               set TCP_NODELAY on broker sockets (Mosquitto set_tcp_nodelay, Aedes noDelay);
                          default: each broker's own default (Nagle on for Mosquitto and Node)
  --broker-cpu <n>        core for the brokers (default 0)
  --generator-cpu <n>     core for the load generator (default 1)
  --max-other <pct>       repeat a measurement (up to --retries times, 5 s apart) when other processes
                          used more than pct % of a core during its window; the least disturbed is kept
  --retries <n>           repetitions for --max-other (default 2)
  --no-build              do not run \`npm run build\` before starting OMAP
  --out <dir>             output directory (default bench/results)
  --from <file.json>      only re-render latest.md/latest.svg from a saved compare-*.json
  -h, --help

Rows: <fanin|fanout|pairs>-q<0|1>-<payload>[-r<rate>] or idle-<connections>.
`;

/** Idle rows need this many descriptors beyond the connections (listeners, pipes, ...). */
const FD_MARGIN = 200;

interface Options {
  /** Re-render from this saved report instead of measuring. */
  from: string | null;
  rows: Row[];
  brokers: BrokerName[];
  config: CompareConfig;
  brokerCpu: number;
  generatorCpu: number;
  build: boolean;
  outDir: string;
  /** Retry measurements disturbed by more than this much foreign CPU (% of a core). */
  maxOther: number | null;
  retries: number;
}

function parseOptions(argv: string[]): Options | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      quick: { type: 'boolean', default: false },
      rows: { type: 'string' },
      brokers: { type: 'string' },
      runs: { type: 'string' },
      duration: { type: 'string' },
      warmup: { type: 'string' },
      grace: { type: 'string', default: '3' },
      rate: { type: 'string', default: '20000' },
      'idle-hold': { type: 'string', default: '3' },
      'e2e-window': { type: 'string', default: 'auto' },
      window: { type: 'string', default: '100' },
      batch: { type: 'string', default: '64' },
      nodelay: { type: 'boolean', default: false },
      'broker-cpu': { type: 'string', default: '0' },
      'generator-cpu': { type: 'string', default: '1' },
      'no-build': { type: 'boolean', default: false },
      'max-other': { type: 'string' },
      retries: { type: 'string', default: '2' },
      out: { type: 'string', default: 'bench/results' },
      from: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return null;
  }
  const n = (v: string | undefined, name: string, def: number): number => {
    if (v === undefined) return def;
    const x = Number(v.toLowerCase().endsWith('k') ? Number(v.slice(0, -1)) * 1000 : v);
    if (!Number.isFinite(x) || x < 0) throw new Error(`--${name}: bad number ${v}`);
    return x;
  };
  const quick = values.quick;
  const rate = n(values.rate, 'rate', 20_000);
  const rowNames = values.rows
    ? values.rows
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean)
    : quick
      ? [...QUICK_ROWS]
      : fullMatrix(rate);
  const brokers = values.brokers
    ? values.brokers.split(',').map((s) => {
        const b = s.trim() as BrokerName;
        if (!BROKERS.includes(b)) throw new Error(`--brokers: unknown broker ${s} (omap, mosquitto, aedes)`);
        return b;
      })
    : [...BROKERS];
  return {
    from: values.from ?? null,
    rows: rowNames.map(parseRow),
    brokers,
    config: {
      runs: Math.max(1, Math.round(n(values.runs, 'runs', 3))),
      duration: n(values.duration, 'duration', quick ? 2 : 5),
      warmup: n(values.warmup, 'warmup', quick ? 0.5 : 1),
      grace: n(values.grace, 'grace', 3),
      nodelay: values.nodelay,
      e2eWindow:
        values['e2e-window'] === 'auto' ? 'auto' : Math.round(n(values['e2e-window'], 'e2e-window', 0)),
      qos1Window: Math.round(n(values.window, 'window', 100)),
      batch: Math.max(1, Math.round(n(values.batch, 'batch', 64))),
      idleHold: n(values['idle-hold'], 'idle-hold', 3),
    },
    brokerCpu: Math.round(n(values['broker-cpu'], 'broker-cpu', 0)),
    generatorCpu: Math.round(n(values['generator-cpu'], 'generator-cpu', 1)),
    build: !values['no-build'],
    maxOther: values['max-other'] !== undefined ? n(values['max-other'], 'max-other', 0) : null,
    retries: Math.round(n(values.retries, 'retries', 2)),
    outDir: join(REPO_ROOT, values.out),
  };
}

const log = (msg: string): void => {
  process.stderr.write(`[bench:compare] ${msg}\n`);
};

function environment(o: Options, hasTaskset: boolean): Environment {
  const mq = mosquittoPath();
  let kernel = os.release();
  try {
    kernel = `Linux ${readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim()}`;
  } catch {
    // not Linux
  }
  return {
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    kernel,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    cpus: os.cpus().length,
    mosquitto: mq ? `mosquitto ${mosquittoVersion(mq)}` : null,
    loadavg: os.loadavg(),
    brokerCpu: hasTaskset ? o.brokerCpu : null,
    generatorCpu: hasTaskset ? o.generatorCpu : null,
    taskset: hasTaskset,
    fdLimit: fdLimit('self'),
  };
}

/** Runs `npm run build` (bounded); failures only warn: OMAP is then skipped if dist is missing. */
function build(): void {
  log('npm run build (use --no-build to skip)');
  try {
    execFileSync('npm', ['run', 'build', '--silent'], { cwd: REPO_ROOT, stdio: 'inherit', timeout: 300_000 });
  } catch (e) {
    log(`warning: npm run build failed (${e instanceof Error ? e.message.split('\n')[0] : String(e)})`);
  }
}

let currentGenerator: ChildProcess | null = null;
let shuttingDown = false;

/** Runs the load generator as a pinned child process and parses its JSON line. */
async function runGenerator(
  o: Options,
  broker: RunningBroker,
  row: Row,
  connections: number,
): Promise<LoadResult> {
  const c = o.config;
  const args = [
    '--import',
    'tsx',
    join(REPO_ROOT, 'bench/load/run.ts'),
    '--host',
    '127.0.0.1',
    '--port',
    String(broker.port),
    '--broker-pid',
    String(broker.pid),
  ];
  let budgetSec: number;
  if (row.kind === 'idle') {
    const connectTimeout = 120;
    args.push('--scenario', 'idle', '--connections', String(connections));
    args.push('--duration', String(c.idleHold), '--connect-timeout', String(connectTimeout));
    budgetSec = connectTimeout + c.idleHold + 60;
  } else {
    args.push('--scenario', row.scenario, '--qos', String(row.qos), '--payload', String(row.payload));
    args.push('--duration', String(c.duration), '--warmup', String(c.warmup), '--grace', String(c.grace));
    args.push(
      '--window',
      String(c.qos1Window),
      '--batch',
      String(c.batch),
      '--e2e-window',
      String(c.e2eWindow),
    );
    if (row.rate !== null) args.push('--rate', String(row.rate));
    budgetSec = 10 + c.warmup + c.duration + c.grace + 40;
  }
  const taskset = tasksetPath();
  const [file, argv] =
    taskset !== null
      ? [taskset, ['-c', String(o.generatorCpu), process.execPath, ...args]]
      : [process.execPath, args];
  const child = spawn(file, argv, { cwd: REPO_ROOT, detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  track(child);
  currentGenerator = child;
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => {
    stdout += d.toString('utf8');
  });
  child.stderr.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString('utf8')).slice(-4000);
  });
  const exit = new Promise<number | null>((r) => {
    child.once('exit', (code) => r(code));
    child.once('error', () => r(-1));
  });
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((r) => {
    timer = setTimeout(() => r('timeout'), budgetSec * 1000);
  });
  const outcome = await Promise.race([exit, timedOut]);
  clearTimeout(timer);
  currentGenerator = null;
  if (outcome === 'timeout') {
    await stopChild(child);
    throw new Error(`load generator exceeded ${budgetSec} s and was killed`);
  }
  await stopChild(child); // reaps anything left in its group
  for (const line of stderr.split('\n')) if (line.startsWith('warning:')) log(`  ${line}`);
  const last = stdout.trim().split('\n').pop() ?? '';
  let parsed: unknown;
  try {
    parsed = JSON.parse(last);
  } catch {
    throw new Error(
      `load generator produced no JSON (exit ${String(outcome)}): ${stderr.trim().slice(-500)}`,
    );
  }
  const r = parsed as { kind?: string; errors?: string[] };
  if (r.kind !== 'traffic' && r.kind !== 'idle') {
    throw new Error(`load generator failed: ${(r.errors ?? []).join('; ') || stderr.trim().slice(-500)}`);
  }
  return parsed as LoadResult;
}

function summaryLine(r: LoadResult): string {
  if (r.kind === 'idle') {
    return (
      `${r.connected}/${r.connectionsRequested} conns, ${r.connectRate} conn/s, ` +
      `${r.broker?.rssPerConnKiB ?? '?'} KiB/conn${r.ok ? '' : `, errors: ${r.errors.join('; ')}`}`
    );
  }
  const l = r.latencyMs;
  return (
    `${r.deliveredPerSec} msg/s, loss ${r.loss} (${r.lossPct}%), p50 ${l.p50} p99 ${l.p99} max ${l.max} ms, ` +
    `broker ${r.broker?.cpuPct ?? '?'}% cpu, gen ${r.generator.cpuPct}%${r.ok ? '' : `, errors: ${r.errors.join('; ')}`}`
  );
}

function stamp(d: Date): string {
  return d
    .toISOString()
    .replace(/[:]/g, '-')
    .replace(/\.\d+Z$/, 'Z');
}

async function main(): Promise<number> {
  const o = parseOptions(process.argv.slice(2));
  if (o === null) return 0;
  if (o.from !== null) {
    const saved = JSON.parse(readFileSync(o.from, 'utf8')) as CompareReport;
    mkdirSync(o.outDir, { recursive: true });
    const md = renderMarkdown(saved);
    writeFileSync(
      join(o.outDir, 'latest.md'),
      `${md}\nRaw results: \`${basename(o.from)}\`, chart: \`latest.svg\`.\n`,
    );
    writeFileSync(join(o.outDir, 'latest.svg'), renderSvg(saved));
    process.stdout.write(`${md}\n`);
    return 0;
  }
  const started = new Date();
  const hasTaskset = tasksetPath() !== null;
  const notes: string[] = [];
  if (!hasTaskset) {
    log('warning: taskset not found (util-linux): brokers and generator run unpinned');
    notes.push('taskset missing: processes were not pinned to cores.');
  }
  if (os.cpus().length < 2) notes.push('Fewer than 2 CPUs: broker and generator share a core.');

  if (o.build && o.brokers.includes('omap')) build();
  const skipped: Partial<Record<BrokerName, string>> = {};
  for (const b of o.brokers) {
    const why = unavailableReason(b);
    if (why !== null) {
      skipped[b] = why;
      log(`skipping ${why}`);
    }
  }
  const active = o.brokers.filter((b) => !skipped[b]);
  if (active.length === 0) {
    log('no broker can be started');
    return 1;
  }

  // Idle rows: the generator and the broker each need one descriptor per connection.
  const maxIdle = o.rows.reduce((m, r) => (r.kind === 'idle' ? Math.max(m, r.connections) : m), 0);
  let idleCap = Number.POSITIVE_INFINITY;
  if (maxIdle > 0) {
    const lim = tryRaiseFdLimit(process.pid, maxIdle + FD_MARGIN); // children inherit it
    if (lim !== null && lim.soft < maxIdle + FD_MARGIN) {
      idleCap = Math.floor((lim.soft - FD_MARGIN) / 1000) * 1000;
      const msg =
        `open-files limit is ${lim.soft} (hard ${lim.hard}) and cannot be raised here (needs root with ` +
        `CAP_SYS_RESOURCE, e.g. \`ulimit -Hn ${maxIdle + FD_MARGIN}\`): idle rows are capped at ${idleCap} connections.`;
      log(`warning: ${msg}`);
      notes.push(msg);
    }
  }

  const config = o.config;
  const samples: Sample[] = [];
  const cells = o.rows.length * active.length * config.runs;
  let done = 0;
  log(
    `${o.rows.length} rows x ${active.length} brokers x ${config.runs} runs = ${cells} measurements ` +
      `(window ${config.duration} s)`,
  );
  for (let run = 1; run <= config.runs; run++) {
    for (const [ri, row] of o.rows.entries()) {
      // Rotate the broker order per run and row so no broker always goes first.
      const shift = (run - 1 + ri) % active.length;
      const order = [...active.slice(shift), ...active.slice(0, shift)];
      for (const b of order) {
        if (shuttingDown) return 130;
        done++;
        const connections = row.kind === 'idle' ? Math.min(row.connections, idleCap) : 0;
        const prefix = `[${done}/${cells}] run ${run} ${row.name}${
          row.kind === 'idle' && connections < row.connections ? ` (capped to ${connections})` : ''
        } ${BROKER_LABEL[b]}`;
        let best: LoadResult | null = null;
        for (let attempt = 0; attempt <= o.retries; attempt++) {
          let broker: RunningBroker | null = null;
          try {
            broker = await startBroker(b, {
              cpu: hasTaskset ? o.brokerCpu : null,
              nodelay: config.nodelay,
              log,
            });
            if (row.kind === 'idle') tryRaiseFdLimit(broker.pid, connections + FD_MARGIN);
            const result = await runGenerator(o, broker, row, connections);
            if (broker.exited()) result.errors.push(`broker exited: ${broker.output().slice(-300)}`);
            const other = (r: LoadResult): number => (r.kind === 'traffic' ? (r.system?.otherPct ?? 0) : 0);
            if (best === null || other(result) < other(best)) best = result;
            if (o.maxOther === null || other(result) <= o.maxOther) break;
            if (attempt < o.retries) {
              log(`${prefix}: disturbed (other processes ${other(result)}% of a core), retrying in 5 s`);
              await new Promise((r) => setTimeout(r, 5000));
            }
          } catch (e) {
            if (shuttingDown) return 130;
            const msg = e instanceof Error ? e.message : String(e);
            if (best === null) {
              samples.push({ row: row.name, broker: b, run, result: null, error: msg });
              log(`${prefix}: FAILED ${msg.split('\n')[0]}`);
            }
            break;
          } finally {
            await broker?.stop();
          }
        }
        if (best !== null) {
          samples.push({ row: row.name, broker: b, run, result: best });
          log(`${prefix}: ${summaryLine(best)}`);
        }
      }
    }
  }

  const report: CompareReport = {
    startedAt: started.toISOString(),
    finishedAt: new Date().toISOString(),
    env: environment(o, hasTaskset),
    config,
    rows: o.rows,
    brokers: o.brokers,
    skipped,
    notes,
    samples,
  };
  mkdirSync(o.outDir, { recursive: true });
  const md = renderMarkdown(report);
  const jsonName = `compare-${stamp(started)}.json`;
  writeFileSync(join(o.outDir, jsonName), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(o.outDir, 'latest.md'), `${md}\nRaw results: \`${jsonName}\`, chart: \`latest.svg\`.\n`);
  writeFileSync(join(o.outDir, 'latest.svg'), renderSvg(report));
  process.stdout.write(`${md}\n`);
  log(`wrote ${join(o.outDir, 'latest.md')}, latest.svg, ${jsonName}`);
  return samples.some((s) => s.result === null) ? 1 : 0;
}

// Cleanup on interruption or crash: stop exactly the processes this script started.
async function shutdown(code: number, why: string): Promise<void> {
  if (shuttingDown) return;
  shuttingDown = true;
  log(`${why}: stopping started processes`);
  if (currentGenerator) await stopChild(currentGenerator);
  await stopAllBrokers();
  process.exit(code);
}
process.on('SIGINT', () => void shutdown(130, 'SIGINT'));
process.on('SIGTERM', () => void shutdown(143, 'SIGTERM'));
process.on('uncaughtException', (e) => {
  log(`uncaught exception: ${e.stack ?? e.message}`);
  void shutdown(1, 'exception');
});
process.on('unhandledRejection', (e) => {
  log(`unhandled rejection: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
  void shutdown(1, 'exception');
});
process.on('exit', () => killAllBrokersSync());

if (!existsSync(join(REPO_ROOT, 'bench/load/run.ts'))) throw new Error('run from the repository');
main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    log(`failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    void shutdown(1, 'error');
  },
);
