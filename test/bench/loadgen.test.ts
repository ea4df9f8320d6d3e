import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RunningBroker, startBroker, stopAllBrokers } from '../../bench/brokers/launch.js';
import { parseRow } from '../../bench/compare/rows.js';
import { runIdle, runTraffic, type TrafficOptions } from '../../bench/load/generator.js';
import { LatencyHistogram } from '../../bench/load/histogram.js';
import {
  encodeConnect,
  encodePuback,
  encodePublish,
  encodeSubscribe,
  type FrameSink,
  FrameSplitter,
  ProtocolError,
} from '../../bench/load/wire.js';

interface Seen {
  header: number;
  body: string;
}

function collect(): { sink: FrameSink; frames: Seen[] } {
  const frames: Seen[] = [];
  return {
    frames,
    sink: {
      onFrame(buf, header, start, end) {
        frames.push({ header, body: buf.subarray(start, end).toString('hex') });
      },
    },
  };
}

describe('FrameSplitter', () => {
  const packets = [
    encodeConnect('client-1', 60),
    encodePublish('a/b', Buffer.alloc(10, 1), 0).packet,
    encodePublish('x', Buffer.alloc(300, 2), 1).packet, // 2-byte remaining length
    encodePuback(513),
    Buffer.from([0xd0, 0x00]), // PINGRESP: empty body
    encodeSubscribe(7, 'c/+', 1),
    encodePublish('big', Buffer.alloc(20_000, 3), 0).packet, // 3-byte remaining length
  ];
  const stream = Buffer.concat(packets);
  const expected = collect();
  new FrameSplitter(expected.sink).push(stream);

  it('splits a stream delivered in one chunk', () => {
    expect(expected.frames.map((f) => f.header)).toEqual(packets.map((p) => p[0]));
    expect(expected.frames[4]!.body).toBe('');
  });

  it('gives the same frames for every two-chunk split', () => {
    for (let cut = 1; cut < stream.length; cut += cut < 400 ? 1 : 97) {
      const got = collect();
      const s = new FrameSplitter(got.sink);
      s.push(stream.subarray(0, cut));
      s.push(stream.subarray(cut));
      expect(got.frames).toEqual(expected.frames);
    }
  });

  it('gives the same frames when fed byte by byte, with a reused read buffer', () => {
    const got = collect();
    const s = new FrameSplitter(got.sink);
    const scratch = Buffer.alloc(16);
    for (let i = 0; i < stream.length; i++) {
      scratch[0] = stream[i]!;
      s.push(scratch, 1);
      scratch.fill(0xff); // the splitter must have copied what it kept
    }
    expect(got.frames).toEqual(expected.frames);
  });

  it('rejects a malformed remaining length', () => {
    const s = new FrameSplitter(collect().sink);
    expect(() => s.push(Buffer.from([0x30, 0xff, 0xff, 0xff, 0xff, 0x01]))).toThrow(ProtocolError);
  });
});

describe('LatencyHistogram', () => {
  it('reports quantiles within 0.1 %', () => {
    const h = new LatencyHistogram();
    for (let i = 1; i <= 10_000; i++) h.recordMs(i / 100); // 0.01 .. 100 ms
    const s = h.summary();
    expect(s.count).toBe(10_000);
    expect(s.p50).toBeCloseTo(50, 0);
    expect(Math.abs(s.p99 - 99) / 99).toBeLessThan(0.002);
    expect(s.max).toBe(100);
  });
});

describe('rows', () => {
  it('parses row names', () => {
    expect(parseRow('pairs-q1-1k-r20k')).toEqual({
      kind: 'traffic',
      name: 'pairs-q1-1k-r20k',
      scenario: 'pairs',
      qos: 1,
      payload: 1024,
      rate: 20_000,
    });
    expect(parseRow('idle-10k')).toEqual({ kind: 'idle', name: 'idle-10k', connections: 10_000 });
    expect(() => parseRow('pairs-q2-64')).toThrow();
  });
});

describe('load generator against Mosquitto', () => {
  let broker: RunningBroker;

  beforeAll(async () => {
    // No skip: CI installs mosquitto (apt-get install mosquitto); a missing binary fails here.
    broker = await startBroker('mosquitto', { cpu: null, nodelay: true, startTimeoutMs: 10_000 });
  });

  afterAll(async () => {
    await broker?.stop();
    await stopAllBrokers();
  });

  const base = (): Omit<TrafficOptions, 'scenario' | 'qos' | 'rate'> => ({
    host: '127.0.0.1',
    port: broker.port,
    brokerPid: broker.pid,
    keepalive: 60,
    connectTimeout: 5,
    connectConcurrency: 20,
    log: () => {},
    payload: 64,
    duration: 1,
    warmup: 0.2,
    grace: 3,
    publishers: 5,
    window: 50,
    batch: 16,
    e2eWindow: 100,
  });

  it('delivers everything at QoS 1 at a modest fixed rate', async () => {
    const r = await runTraffic({ ...base(), scenario: 'pairs', qos: 1, rate: 2000 });
    expect(r.errors).toEqual([]);
    expect(r.delivered).toBeGreaterThan(0);
    expect(r.sent).toBeGreaterThan(1000);
    expect(r.loss).toBe(0);
    expect(r.unacked).toBe(0);
    expect(r.latencyMs.count).toBe(r.delivered);
    expect(r.latencyMs.p50).toBeGreaterThan(0);
    expect(r.broker?.alive).toBe(true);
    expect(r.broker?.rssPeakKiB).toBeGreaterThan(0);
  }, 20_000);

  it('measures unlimited-rate QoS 0 fan-in', async () => {
    const r = await runTraffic({ ...base(), scenario: 'fanin', qos: 0, rate: null, duration: 0.5 });
    expect(r.errors).toEqual([]);
    expect(r.delivered).toBeGreaterThan(0);
    expect(r.deliveredPerSec).toBeGreaterThan(0);
    expect(r.expected).toBe(r.sent);
  }, 20_000);

  it('searches the end-to-end window (auto) before measuring fan-out', async () => {
    const r = await runTraffic({
      ...base(),
      scenario: 'fanout',
      qos: 0,
      rate: null,
      publishers: 1,
      subscribers: 5,
      duration: 0.5,
      e2eWindow: 'auto',
      e2eWindowMax: 256,
    });
    expect(r.errors).toEqual([]);
    expect(r.e2eTuning.map((t) => t.window)).toEqual([64, 128, 256].slice(0, r.e2eTuning.length));
    expect(r.e2eTuning.length).toBeGreaterThanOrEqual(1);
    expect(r.e2eWindow).toBeGreaterThanOrEqual(64);
    expect(r.delivered).toBe(r.sent * 5);
  }, 20_000);

  it('opens idle subscribed connections and reads the broker RSS', async () => {
    const r = await runIdle({
      host: '127.0.0.1',
      port: broker.port,
      brokerPid: broker.pid,
      keepalive: 60,
      connectTimeout: 10,
      connectConcurrency: 50,
      log: () => {},
      scenario: 'idle',
      connections: 200,
      duration: 0.2,
    });
    expect(r.errors).toEqual([]);
    expect(r.connected).toBe(200);
    expect(r.connectRate).toBeGreaterThan(0);
    expect(r.broker?.rssAfterKiB).toBeGreaterThan(0);
  }, 20_000);
});
