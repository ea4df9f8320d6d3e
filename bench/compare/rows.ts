// Row names of the comparison matrix and their parsing:
//   <fanin|fanout|pairs>-q<0|1>-<payload>[-r<rate>]   e.g. pairs-q0-64, fanin-q1-1k, pairs-q0-64-r20k
//   idle-<connections>                                e.g. idle-10k, idle-20000
// payload "1k" = 1024 bytes; rate/connections "20k" = 20000.

import type { TrafficScenario } from '../load/generator.js';

export interface TrafficRow {
  kind: 'traffic';
  name: string;
  scenario: TrafficScenario;
  qos: 0 | 1;
  payload: number;
  /** Delivered msgs/s; null = unlimited (throughput row). */
  rate: number | null;
}

export interface IdleRow {
  kind: 'idle';
  name: string;
  connections: number;
}

export type Row = TrafficRow | IdleRow;

function parseCount(s: string, k: number): number | null {
  const m = /^(\d+(?:\.\d+)?)(k?)$/i.exec(s);
  if (!m) return null;
  return Math.round(Number(m[1]) * (m[2] ? k : 1));
}

export function parseRow(name: string): Row {
  const idle = /^idle-(\w+)$/.exec(name);
  if (idle) {
    const n = parseCount(idle[1]!, 1000);
    if (n === null || n < 1) throw new Error(`bad idle row: ${name}`);
    return { kind: 'idle', name, connections: n };
  }
  const m = /^(fanin|fanout|pairs)-q([01])-(\w+?)(?:-r(\w+))?$/.exec(name);
  if (!m) throw new Error(`bad row name: ${name} (expected e.g. pairs-q0-64, fanin-q1-1k-r20k, idle-10k)`);
  const payload = parseCount(m[3]!, 1024);
  if (payload === null || payload < 16) throw new Error(`bad payload in row ${name} (>= 16 bytes)`);
  const rate = m[4] !== undefined ? parseCount(m[4], 1000) : null;
  if (rate !== null && rate < 1) throw new Error(`bad rate in row ${name}`);
  return {
    kind: 'traffic',
    name,
    scenario: m[1] as TrafficScenario,
    qos: m[2] === '1' ? 1 : 0,
    payload,
    rate,
  };
}

export function rowLabel(payload: number): string {
  return payload % 1024 === 0 ? `${payload / 1024}k` : String(payload);
}

/** The full matrix: every scenario x QoS x payload, unlimited and at `rate`, then idle rows. */
export function fullMatrix(rate: number): string[] {
  const rateTag = rate % 1000 === 0 ? `${rate / 1000}k` : String(rate);
  const rows: string[] = [];
  for (const withRate of [false, true]) {
    for (const s of ['fanin', 'fanout', 'pairs']) {
      for (const q of [0, 1]) {
        for (const p of ['64', '1k']) rows.push(`${s}-q${q}-${p}${withRate ? `-r${rateTag}` : ''}`);
      }
    }
  }
  rows.push('idle-10k', 'idle-20k');
  return rows;
}

export const QUICK_ROWS: readonly string[] = [
  'fanin-q0-64',
  'fanout-q0-64',
  'pairs-q0-64',
  'pairs-q1-64',
  'pairs-q0-64-r20k',
  'idle-2k',
];
