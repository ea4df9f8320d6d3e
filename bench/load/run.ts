// CLI of the load generator. Prints one JSON result line on stdout; diagnostics go to stderr.
//
//   npx tsx bench/load/run.ts --host 127.0.0.1 --port 1883 --scenario pairs --qos 0 --payload 64 \
//     --duration 5 [--rate 20000] [--broker-pid N]
//   npx tsx bench/load/run.ts --port 1883 --scenario idle --connections 10000 --broker-pid N

import { parseArgs } from 'node:util';
import {
  type CommonOptions,
  type LoadResult,
  runIdle,
  runTraffic,
  SCENARIOS,
  type Scenario,
} from './generator.js';

const HELP = `Usage: tsx bench/load/run.ts [options]

  --host <addr>            broker host (default 127.0.0.1)
  --port <n>               broker MQTT port (default 1883)
  --scenario <s>           fanin | fanout | pairs | idle (default pairs)
  --qos <0|1>              QoS of publishes and subscriptions (default 0)
  --payload <bytes>        payload size, >= 16 (default 64; "1k" = 1024)
  --senml                  payloads are valid SenML JSON packs (>= 85 bytes, padded to --payload)
  --duration <s>           measurement window; idle: hold time after connecting (default 5)
  --warmup <s>             traffic before the window that is not counted (default 1)
  --grace <s>              max wait for in-flight messages after the window (default 3)
  --rate <msgs/s>          target delivered msgs/s over all subscribers (default: unlimited)
  --publishers <n>         override the scenario's publisher count (pairs: pair count)
  --subscribers <n>        override the scenario's subscriber count
  --window <n>             QoS 1 in-flight PUBLISHes per publisher (default 100)
  --batch <n>              max PUBLISH packets per write (default 64)
  --e2e-window <n|auto>    unlimited rate: max messages in flight towards each subscriber;
                           auto (default) = smallest window near the best rate, searched
                           before the warm-up (64, 128, ... up to --e2e-window-max 4096);
                           0 = open loop, only TCP backpressure
  --topic-prefix <p>       first topic levels (default bench), e.g. channels/bench/messages
  --connections <n>        idle: connections to open, one SUBSCRIBE each (default 10000)
  --connect-concurrency <n> concurrent connection attempts (default 100)
  --connect-timeout <s>    connect phase timeout (default 10, idle 120)
  --keepalive <s>          MQTT keepalive; PINGREQ at half of it (default 60, 0 = off)
  --broker-pid <pid>       observe the broker via /proc (CPU %, RSS)
  --pretty                 indent the JSON output
  -h, --help

Scenarios: fanin = 10 publishers -> 1 wildcard subscriber; fanout = 1 -> 50 subscribers;
pairs = 50 publisher/subscriber pairs on distinct topics; idle = N idle subscribed connections.
`;

function num(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const s = v.trim().toLowerCase();
  const mult = s.endsWith('k') ? 1024 : 1;
  const n = Number(mult === 1 ? s : s.slice(0, -1)) * mult;
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a non-negative number: ${v}`);
  return n;
}

/** Like num() but "20k" means 20000 (rates, counts). */
function count(v: string | undefined, name: string, def: number): number {
  if (v === undefined) return def;
  const s = v.trim().toLowerCase();
  const n = s.endsWith('k') ? Number(s.slice(0, -1)) * 1000 : Number(s);
  if (!Number.isFinite(n) || n < 0) throw new Error(`--${name}: not a non-negative number: ${v}`);
  return Math.round(n);
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      host: { type: 'string', default: '127.0.0.1' },
      port: { type: 'string', default: '1883' },
      scenario: { type: 'string', default: 'pairs' },
      qos: { type: 'string', default: '0' },
      payload: { type: 'string', default: '64' },
      senml: { type: 'boolean', default: false },
      duration: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      grace: { type: 'string', default: '3' },
      rate: { type: 'string' },
      publishers: { type: 'string' },
      subscribers: { type: 'string' },
      window: { type: 'string', default: '100' },
      batch: { type: 'string', default: '64' },
      'e2e-window': { type: 'string', default: 'auto' },
      'topic-prefix': { type: 'string' },
      'e2e-window-max': { type: 'string', default: '4096' },
      connections: { type: 'string', default: '10000' },
      'connect-concurrency': { type: 'string', default: '100' },
      'connect-timeout': { type: 'string' },
      keepalive: { type: 'string', default: '60' },
      'broker-pid': { type: 'string' },
      pretty: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h', default: false },
    },
    strict: true,
  });
  if (values.help) {
    process.stdout.write(HELP);
    return 0;
  }
  const scenario = values.scenario as Scenario;
  if (!SCENARIOS.includes(scenario)) throw new Error(`--scenario must be one of ${SCENARIOS.join(', ')}`);
  const qos = count(values.qos, 'qos', 0);
  if (qos !== 0 && qos !== 1) throw new Error('--qos must be 0 or 1');
  const brokerPid = values['broker-pid'] !== undefined ? count(values['broker-pid'], 'broker-pid', 0) : null;
  const common: CommonOptions = {
    host: values.host,
    port: count(values.port, 'port', 1883),
    brokerPid,
    keepalive: count(values.keepalive, 'keepalive', 60),
    connectTimeout: num(values['connect-timeout'], 'connect-timeout', scenario === 'idle' ? 120 : 10),
    connectConcurrency: Math.max(1, count(values['connect-concurrency'], 'connect-concurrency', 100)),
    log: (msg) => process.stderr.write(`${msg}\n`),
  };
  const duration = num(values.duration, 'duration', 5);
  let result: LoadResult;
  if (scenario === 'idle') {
    result = await runIdle({
      ...common,
      scenario,
      connections: count(values.connections, 'connections', 10_000),
      duration,
    });
  } else {
    result = await runTraffic({
      ...common,
      scenario,
      qos,
      payload: Math.round(num(values.payload, 'payload', 64)),
      duration,
      warmup: num(values.warmup, 'warmup', 1),
      grace: num(values.grace, 'grace', 3),
      rate: values.rate !== undefined ? count(values.rate, 'rate', 0) || null : null,
      publishers: values.publishers !== undefined ? count(values.publishers, 'publishers', 1) : undefined,
      subscribers: values.subscribers !== undefined ? count(values.subscribers, 'subscribers', 1) : undefined,
      window: count(values.window, 'window', 100),
      batch: Math.max(1, count(values.batch, 'batch', 64)),
      e2eWindow: values['e2e-window'] === 'auto' ? 'auto' : count(values['e2e-window'], 'e2e-window', 0),
      e2eWindowMax: count(values['e2e-window-max'], 'e2e-window-max', 4096),
      topicPrefix: values['topic-prefix'],
      senml: values.senml,
    });
  }
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  for (const e of result.errors) process.stderr.write(`error: ${e}\n`);
  process.stdout.write(`${JSON.stringify(result, null, values.pretty ? 2 : undefined)}\n`);
  return result.ok ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    const msg = e instanceof Error ? e.message : String(e);
    process.stderr.write(`load generator failed: ${msg}\n`);
    process.stdout.write(`${JSON.stringify({ kind: 'error', ok: false, errors: [msg] })}\n`);
    process.exitCode = 2;
  },
);
