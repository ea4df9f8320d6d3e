// Aggregation (median, min-max over runs) and rendering of the comparison: a markdown report
// and a hand-written SVG bar chart.

import type { BrokerName } from '../brokers/launch.js';
import type { IdleResult, LoadResult, TrafficResult } from '../load/generator.js';
import type { Row } from './rows.js';

export interface Sample {
  row: string;
  broker: BrokerName;
  run: number;
  result: LoadResult | null;
  /** Why there is no (valid) result: broker failed to start, generator crashed... */
  error?: string;
}

export interface Environment {
  node: string;
  platform: string;
  kernel: string;
  cpuModel: string;
  cpus: number;
  mosquitto: string | null;
  loadavg: number[];
  brokerCpu: number | null;
  generatorCpu: number | null;
  taskset: boolean;
  fdLimit: { soft: number; hard: number } | null;
}

export interface CompareConfig {
  runs: number;
  duration: number;
  warmup: number;
  grace: number;
  nodelay: boolean;
  e2eWindow: number | 'auto';
  qos1Window: number;
  batch: number;
  idleHold: number;
}

export interface CompareReport {
  startedAt: string;
  finishedAt: string;
  env: Environment;
  config: CompareConfig;
  rows: Row[];
  brokers: BrokerName[];
  skipped: Partial<Record<BrokerName, string>>;
  notes: string[];
  samples: Sample[];
}

export interface Stat {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function stat(values: number[]): Stat | null {
  const v = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return null;
  const mid = v.length >> 1;
  const median = v.length % 2 === 1 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
  return { median, min: v[0]!, max: v[v.length - 1]!, n: v.length };
}

export const BROKER_LABEL: Record<BrokerName, string> = {
  omap: 'OMAP',
  mosquitto: 'Mosquitto',
  aedes: 'Aedes',
};

const COLORS: Record<BrokerName, string> = {
  omap: '#2b7bb9',
  mosquitto: '#6b9e3a',
  aedes: '#c9822b',
};

function valid(s: Sample): boolean {
  if (s.result === null) return false;
  if (s.result.kind === 'idle') return s.result.connected > 0;
  return s.result.delivered > 0 || s.result.sent > 0;
}

export function metric(
  samples: Sample[],
  row: string,
  broker: BrokerName,
  pick: (r: LoadResult) => number | null | undefined,
): Stat | null {
  const rs = samples.filter((s) => s.row === row && s.broker === broker && valid(s)).map((s) => s.result!);
  return stat(rs.map(pick).filter((x): x is number => typeof x === 'number'));
}

function fmtNum(n: number): string {
  if (n >= 1_000_000) return `${(n / 1_000_000).toFixed(2)}M`;
  if (n >= 10_000) return `${(n / 1000).toFixed(0)}k`;
  if (n >= 1000) return `${(n / 1000).toFixed(1)}k`;
  if (n >= 100) return n.toFixed(0);
  if (n >= 10) return n.toFixed(1);
  return n.toFixed(2);
}

function fmtMs(n: number): string {
  return n >= 100 ? n.toFixed(0) : n >= 10 ? n.toFixed(1) : n.toFixed(2);
}

function cell(s: Stat | null, fmt: (n: number) => string): string {
  if (s === null) return 'n/a';
  if (s.n === 1 || s.min === s.max) return fmt(s.median);
  return `${fmt(s.median)} (${fmt(s.min)}–${fmt(s.max)})`;
}

function ratio(a: Stat | null, b: Stat | null): string {
  if (a === null || b === null || b.median === 0) return 'n/a';
  return `${(a.median / b.median).toFixed(2)}×`;
}

function triple(
  samples: Sample[],
  row: string,
  brokers: BrokerName[],
  pick: (r: LoadResult) => number | null | undefined,
  fmt: (n: number) => string,
): string {
  return brokers.map((b) => cell(metric(samples, row, b, pick), fmt)).join(' / ');
}

function medianOnly(
  samples: Sample[],
  row: string,
  brokers: BrokerName[],
  pick: (r: LoadResult) => number | null | undefined,
  fmt: (n: number) => string,
): string {
  return brokers
    .map((b) => {
      const s = metric(samples, row, b, pick);
      return s === null ? 'n/a' : fmt(s.median);
    })
    .join(' / ');
}

/** Most frequent bottleneck label of a cell (see TrafficResult.bottleneck). */
function bound(samples: Sample[], row: string, brokers: BrokerName[]): string {
  return brokers
    .map((b) => {
      const counts = new Map<string, number>();
      for (const s of samples) {
        if (s.row !== row || s.broker !== b || s.result?.kind !== 'traffic') continue;
        counts.set(s.result.bottleneck, (counts.get(s.result.bottleneck) ?? 0) + 1);
      }
      let best = 'n/a';
      let n = 0;
      for (const [k, v] of counts) {
        if (v > n) {
          best = k;
          n = v;
        }
      }
      return best;
    })
    .join(' / ');
}

const tr = (r: LoadResult): TrafficResult | null => (r.kind === 'traffic' ? r : null);
const id = (r: LoadResult): IdleResult | null => (r.kind === 'idle' ? r : null);

export function renderMarkdown(rep: CompareReport): string {
  const { brokers, samples } = rep;
  const labels = brokers.map((b) => BROKER_LABEL[b]);
  const hasOmap = brokers.includes('omap') && !rep.skipped.omap;
  const out: string[] = [];
  const e = rep.env;
  out.push('# OMAP broker comparison (end-to-end, MQTT 3.1.1)');
  out.push('');
  out.push(`Generated ${rep.finishedAt} by \`npm run bench:compare\`.`);
  out.push('');
  out.push(
    `- Machine: ${e.cpuModel}, ${e.cpus} CPUs, ${e.kernel}; Node ${e.node}; ${e.mosquitto ?? 'mosquitto not installed'}; ` +
      `load average at start ${e.loadavg.map((x) => x.toFixed(2)).join(' ')}.`,
  );
  out.push(
    `- Pinning: ${
      e.taskset
        ? `broker on CPU ${e.brokerCpu}, load generator on CPU ${e.generatorCpu} (taskset)`
        : 'none (taskset missing)'
    }. One fresh broker process per measurement; brokers interleaved within each run.`,
  );
  const c = rep.config;
  out.push(
    `- ${c.runs} run(s) per cell: median (min–max). Window ${c.duration} s after ${c.warmup} s warm-up, ` +
      `grace ${c.grace} s for in-flight messages. TCP_NODELAY on broker sockets: ${c.nodelay ? 'yes' : 'no (broker defaults)'}.`,
  );
  out.push(
    `- Unlimited-rate rows are closed-loop: at most ${
      c.e2eWindow === 'auto'
        ? 'W (searched per measurement: smallest W within 5 % of the best rate, "W" column)'
        : c.e2eWindow
    } messages in flight towards each subscriber ` +
      `(QoS 1 additionally ≤ ${c.qos1Window} un-PUBACKed), ≤ ${c.batch} packets per write. Throughput = messages delivered ` +
      'to subscribers per second during the window; loss = expected − delivered for messages sent during the window.',
  );
  out.push(
    '- "Bound by": broker = broker ≥ 90 % CPU; generator = generator ≥ 90 % CPU (result is a lower bound); ' +
      'window = neither saturated (closed-loop window/latency bound). "W": end-to-end window per subscriber used. ' +
      '"Other CPU %": CPU used by other processes during the window (% of one core).',
  );
  for (const [b, why] of Object.entries(rep.skipped))
    out.push(`- **${BROKER_LABEL[b as BrokerName]} skipped:** ${why}`);
  for (const n of rep.notes) out.push(`- ${n}`);
  out.push('');

  const rows = rep.rows;
  const thr = rows.filter((r) => r.kind === 'traffic' && r.rate === null);
  const lat = rows.filter((r) => r.kind === 'traffic' && r.rate !== null);
  const idl = rows.filter((r) => r.kind === 'idle');

  const f0 = (n: number): string => n.toFixed(0);
  const f2 = (n: number): string => n.toFixed(2);
  if (thr.length > 0) {
    out.push('## Throughput (delivered msgs/s, higher is better)');
    out.push('');
    const head = ['Row', ...labels];
    if (hasOmap) {
      if (brokers.includes('mosquitto')) head.push('OMAP/Mosquitto');
      if (brokers.includes('aedes')) head.push('OMAP/Aedes');
    }
    head.push(`Loss % (${labels.join('/')})`, 'Broker CPU %', 'Peak RSS MiB', 'Generator CPU %');
    head.push('Bound by', 'W', 'Other CPU %', 'p99 ms');
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|${head.map(() => '---').join('|')}|`);
    for (const r of thr) {
      const m = (pick: (x: LoadResult) => number | null | undefined, fmt: (n: number) => string): string =>
        medianOnly(samples, r.name, brokers, pick, fmt);
      const dps = (x: LoadResult): number | null => tr(x)?.deliveredPerSec ?? null;
      const stats = brokers.map((b) => metric(samples, r.name, b, dps));
      const cells = [r.name, ...stats.map((s) => cell(s, fmtNum))];
      if (hasOmap) {
        const o = stats[brokers.indexOf('omap')] ?? null;
        if (brokers.includes('mosquitto')) cells.push(ratio(o, stats[brokers.indexOf('mosquitto')] ?? null));
        if (brokers.includes('aedes')) cells.push(ratio(o, stats[brokers.indexOf('aedes')] ?? null));
      }
      cells.push(m((x) => tr(x)?.lossPct, f2));
      cells.push(m((x) => tr(x)?.broker?.cpuPct, f0));
      cells.push(
        m(
          (x) => (tr(x)?.broker?.rssPeakKiB ?? Number.NaN) / 1024,
          (n) => n.toFixed(1),
        ),
      );
      cells.push(m((x) => tr(x)?.generator.cpuPct, f0));
      cells.push(bound(samples, r.name, brokers));
      cells.push(m((x) => tr(x)?.e2eWindow, f0));
      cells.push(m((x) => tr(x)?.system?.otherPct, f0));
      cells.push(m((x) => tr(x)?.latencyMs.p99, fmtMs));
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }

  if (lat.length > 0) {
    out.push('## Latency at a fixed rate (ms, lower is better)');
    out.push('');
    const head = ['Row', ...labels.map((l) => `${l} p50 / p99 / max`)];
    if (hasOmap) {
      if (brokers.includes('mosquitto')) head.push('p99 OMAP/Mosquitto');
      if (brokers.includes('aedes')) head.push('p99 OMAP/Aedes');
    }
    head.push(
      `Delivered msgs/s (${labels.join('/')})`,
      'Loss %',
      'Broker CPU %',
      'Generator CPU %',
      'Other CPU %',
    );
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|${head.map(() => '---').join('|')}|`);
    for (const r of lat) {
      const m = (pick: (x: LoadResult) => number | null | undefined, fmt: (n: number) => string): string =>
        medianOnly(samples, r.name, brokers, pick, fmt);
      const p99 = (b: BrokerName): Stat | null => metric(samples, r.name, b, (x) => tr(x)?.latencyMs.p99);
      const cells = [r.name];
      for (const b of brokers) {
        const parts = (['p50', 'p99', 'max'] as const).map((q) => {
          const s = metric(samples, r.name, b, (x) => tr(x)?.latencyMs[q]);
          return s === null ? 'n/a' : fmtMs(s.median);
        });
        const s = p99(b);
        const range = s !== null && s.n > 1 ? ` (p99 ${fmtMs(s.min)}–${fmtMs(s.max)})` : '';
        cells.push(`${parts.join(' / ')}${range}`);
      }
      if (hasOmap) {
        if (brokers.includes('mosquitto')) cells.push(ratio(p99('omap'), p99('mosquitto')));
        if (brokers.includes('aedes')) cells.push(ratio(p99('omap'), p99('aedes')));
      }
      cells.push(m((x) => tr(x)?.deliveredPerSec, fmtNum));
      cells.push(m((x) => tr(x)?.lossPct, f2));
      cells.push(m((x) => tr(x)?.broker?.cpuPct, f0));
      cells.push(m((x) => tr(x)?.generator.cpuPct, f0));
      cells.push(m((x) => tr(x)?.system?.otherPct, f0));
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }

  if (idl.length > 0) {
    out.push('## Idle connections (one SUBSCRIBE each)');
    out.push('');
    const head = ['Row', `Connected (${labels.join('/')})`, ...labels.map((l) => `${l} KiB/conn`)];
    if (hasOmap) {
      if (brokers.includes('mosquitto')) head.push('KiB/conn OMAP/Mosquitto');
      if (brokers.includes('aedes')) head.push('KiB/conn OMAP/Aedes');
    }
    head.push(`Connect rate conn/s (${labels.join('/')})`, 'Broker RSS after MiB');
    out.push(`| ${head.join(' | ')} |`);
    out.push(`|${head.map(() => '---').join('|')}|`);
    for (const r of idl) {
      const per = (x: LoadResult): number | null | undefined => id(x)?.broker?.rssPerConnKiB;
      const cells = [
        r.name,
        medianOnly(
          samples,
          r.name,
          brokers,
          (x) => id(x)?.connected,
          (n) => n.toFixed(0),
        ),
      ];
      for (const b of brokers) cells.push(cell(metric(samples, r.name, b, per), (n) => n.toFixed(2)));
      if (hasOmap) {
        const o = metric(samples, r.name, 'omap', per);
        if (brokers.includes('mosquitto')) cells.push(ratio(o, metric(samples, r.name, 'mosquitto', per)));
        if (brokers.includes('aedes')) cells.push(ratio(o, metric(samples, r.name, 'aedes', per)));
      }
      cells.push(triple(samples, r.name, brokers, (x) => id(x)?.connectRate, fmtNum));
      cells.push(
        medianOnly(
          samples,
          r.name,
          brokers,
          (x) => (id(x)?.broker?.rssAfterKiB ?? Number.NaN) / 1024,
          (n) => n.toFixed(1),
        ),
      );
      out.push(`| ${cells.join(' | ')} |`);
    }
    out.push('');
  }

  const problems = samples.filter((s) => !valid(s) || (s.result !== null && !s.result.ok));
  if (problems.length > 0) {
    out.push('## Problems');
    out.push('');
    for (const s of problems) {
      const msgs = s.error ? [s.error] : (s.result?.errors ?? []);
      out.push(
        `- ${s.row} / ${BROKER_LABEL[s.broker]} / run ${s.run}: ${msgs.join('; ').replace(/\s+/g, ' ').slice(0, 300)}`,
      );
    }
    out.push('');
  }
  const disturbed = samples.filter(
    (s) => s.result?.kind === 'traffic' && (s.result.system?.otherPct ?? 0) >= 15,
  );
  if (disturbed.length > 0) {
    out.push(
      `Note: in ${disturbed.length} of ${samples.length} measurement(s) other processes used ≥ 15 % of a core ` +
        '("Other CPU %"): those cells are disturbed; rerun on a quiet machine for publishable numbers.',
    );
    out.push('');
  }
  const saturated = samples.filter((s) => s.result?.kind === 'traffic' && s.result.generator.saturated);
  if (saturated.length > 0) {
    out.push(
      `Note: the load generator used ≥ 90 % of its core in ${saturated.length} measurement(s) ` +
        `(${[...new Set(saturated.map((s) => `${s.row}/${BROKER_LABEL[s.broker]}`))].join(', ')}): ` +
        'those throughputs may be generator-bound (lower bounds).',
    );
    out.push('');
  }
  return out.join('\n');
}

// ---------------------------------------------------------------------------------------------
// SVG

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

interface Panel {
  title: string;
  unit: (n: number) => string;
  rows: string[];
  pick: (r: LoadResult) => number | null | undefined;
}

/** Horizontal grouped bars, one panel per metric family; each row has its own linear scale. */
export function renderSvg(rep: CompareReport): string {
  const brokers = rep.brokers.filter((b) => !rep.skipped[b]);
  const traffic = rep.rows.filter((r) => r.kind === 'traffic');
  const all: Panel[] = [
    {
      title: 'Throughput, delivered msgs/s (higher is better)',
      unit: fmtNum,
      rows: traffic.filter((r) => r.rate === null).map((r) => r.name),
      pick: (r) => tr(r)?.deliveredPerSec,
    },
    {
      title: 'Latency p99 at fixed rate, ms (lower is better)',
      unit: fmtMs,
      rows: traffic.filter((r) => r.rate !== null).map((r) => r.name),
      pick: (r) => tr(r)?.latencyMs.p99,
    },
    {
      title: 'Idle connections: broker RSS per connection, KiB (lower is better)',
      unit: (n) => n.toFixed(2),
      rows: rep.rows.filter((r) => r.kind === 'idle').map((r) => r.name),
      pick: (r) => id(r)?.broker?.rssPerConnKiB,
    },
  ];
  const panels = all.filter((p) => p.rows.length > 0);

  const width = 900;
  const labelW = 170;
  const valueW = 120;
  const plotW = width - labelW - valueW - 20;
  const barH = 14;
  const groupGap = 10;
  const parts: string[] = [];
  let y = 50;
  parts.push(
    `<text x="${width / 2}" y="24" text-anchor="middle" font-size="16" font-weight="bold">` +
      `${esc('OMAP vs Mosquitto vs Aedes — median of runs, whiskers = min–max, bars scaled per row')}</text>`,
  );
  // legend
  let lx = labelW;
  for (const b of brokers) {
    parts.push(`<rect x="${lx}" y="32" width="12" height="12" fill="${COLORS[b]}"/>`);
    parts.push(`<text x="${lx + 16}" y="42" font-size="12">${BROKER_LABEL[b]}</text>`);
    lx += 110;
  }
  y += 10;
  for (const p of panels) {
    parts.push(`<text x="10" y="${y}" font-size="14" font-weight="bold">${esc(p.title)}</text>`);
    y += 12;
    for (const row of p.rows) {
      // Each row has its own scale (values span orders of magnitude between rows).
      let maxV = 0;
      for (const b of brokers) {
        const s = metric(rep.samples, row, b, p.pick);
        if (s !== null) maxV = Math.max(maxV, s.max);
      }
      const scale = plotW / (maxV > 0 ? maxV : 1);
      const groupH = brokers.length * (barH + 2);
      parts.push(
        `<text x="${labelW - 8}" y="${y + groupH / 2 + 4}" text-anchor="end" font-size="12">${esc(row)}</text>`,
      );
      for (const b of brokers) {
        const s = metric(rep.samples, row, b, p.pick);
        if (s === null) {
          parts.push(`<text x="${labelW + 4}" y="${y + barH - 3}" font-size="11" fill="#888">n/a</text>`);
        } else {
          const w = Math.max(1, s.median * scale);
          parts.push(
            `<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${COLORS[b]}">` +
              `<title>${esc(`${BROKER_LABEL[b]} ${row}: ${p.unit(s.median)} (${p.unit(s.min)}–${p.unit(s.max)})`)}</title></rect>`,
          );
          if (s.max > s.min) {
            const x1 = labelW + s.min * scale;
            const x2 = labelW + s.max * scale;
            const cy = y + barH / 2;
            parts.push(
              `<path d="M${x1.toFixed(1)} ${cy}H${x2.toFixed(1)}M${x1.toFixed(1)} ${cy - 4}V${cy + 4}` +
                `M${x2.toFixed(1)} ${cy - 4}V${cy + 4}" stroke="#222" stroke-width="1" fill="none"/>`,
            );
          }
          parts.push(
            `<text x="${(labelW + Math.max(w, s.max * scale) + 6).toFixed(1)}" y="${y + barH - 3}" font-size="11">` +
              `${esc(p.unit(s.median))}</text>`,
          );
        }
        y += barH + 2;
      }
      y += groupGap;
    }
    y += 14;
  }
  const height = y + 10;
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif">`,
    `<rect width="${width}" height="${height}" fill="#fff"/>`,
    ...parts,
    '</svg>',
    '',
  ].join('\n');
}
