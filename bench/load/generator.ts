// End-to-end MQTT 3.1.1 load generator over raw TCP sockets.
//
// Publishers write pre-encoded PUBLISH packets in batches (one Buffer per write); subscribers
// read through a hand-written frame splitter that only counts PUBLISH frames, reads the send
// timestamp (float64 performance.now(), payload bytes 0-7), the publisher index (uint32 LE, bytes
// 8-11) and the publisher's sequence number (uint32 LE, bytes 12-15, from 1) and, at QoS 1,
// answers PUBACKs batched per read chunk. Publisher and subscriber live in the same process, so the clock is
// shared and the latency is receive time minus send time.
//
// Accounting: the run has a warm-up, then a measurement window [t0, t1). A message is "measured"
// when its send timestamp falls in the window; loss = expected - delivered over measured
// messages (expected = measured sends x deliveries per message), counted after a grace period
// that lets in-flight messages arrive. deliveredPerSec counts receptions whose receive time falls
// in the window (the steady delivery rate, independent of broker-side queueing).
//
// Unlimited rate is closed-loop by default: at most `e2eWindow` messages may be on their way to
// each subscriber (published, not yet received). Each publisher gets its share of that: fan-in
// (10 publishers -> 1 subscriber) allows e2eWindow/10 per publisher, pairs and fan-out allow
// e2eWindow per publisher. Without a window, loopback TCP buffers (MBs per socket) fill up with
// seconds of traffic, brokers queue or drop (Mosquitto: max_queued_messages, default 1000) and
// latency and loss only describe the overload. Credit comes back by sequence number: a message
// the broker dropped frees its slot as soon as a later message of the same publisher arrives at
// that subscriber (it still counts as loss). If nothing arrives for STALL_MS (the broker dropped
// the tail), the publisher writes its outstanding messages off and continues. e2eWindow = 0 gives the open-loop blast limited by TCP backpressure only.
//
// e2eWindow 'auto' (the default) looks for the knee before the warm-up: it doubles the window
// from 64 per subscriber while the delivered rate still grows by >= 5 % or the broker still has
// idle CPU (it stops at the first doubling without gain once the broker is >= 85 % busy) and keeps
// the smallest window within 5 % of the best rate. Brokers
// differ a lot here: a window that saturates one broker can make another one queue for seconds
// and slow down (Aedes) or drop (Mosquitto QoS 1, max_queued_messages), so one fixed window would
// favour some of them. Probing stops early because an oversized window can leave a broker slower
// afterwards (Aedes' grown heap).

import net from 'node:net';
import { LatencyHistogram, type LatencySummary } from './histogram.js';
import {
  type CpuTimes,
  cpuPercent,
  cpuTimes,
  fdLimit,
  openFds,
  type ProcSnapshot,
  RssSampler,
  type SystemLoad,
  snapshot,
  systemLoad,
  type TcpCounters,
  tcpCounters,
  tryRaiseFdLimit,
} from './procstat.js';
import {
  DISCONNECT,
  encodeConnect,
  encodePublish,
  encodeSubscribe,
  type FrameSink,
  FrameSplitter,
  PacketType,
  PINGREQ,
} from './wire.js';

export type TrafficScenario = 'fanin' | 'fanout' | 'pairs';
export type Scenario = TrafficScenario | 'idle';
export const SCENARIOS: readonly Scenario[] = ['fanin', 'fanout', 'pairs', 'idle'];

export interface CommonOptions {
  host: string;
  port: number;
  /** Pid of the broker to observe through /proc (CPU, RSS); null to skip. */
  brokerPid: number | null;
  /** MQTT keepalive in seconds (PINGREQs are sent at half of it); 0 disables. */
  keepalive: number;
  /** Timeout of the connect phase, seconds. */
  connectTimeout: number;
  /** Concurrent connection attempts. */
  connectConcurrency: number;
  /** Diagnostic messages (stderr in the CLI). */
  log: (msg: string) => void;
}

export interface TrafficOptions extends CommonOptions {
  scenario: TrafficScenario;
  qos: 0 | 1;
  /** Payload size in bytes (>= 8: the first 8 bytes carry the send timestamp). */
  payload: number;
  /** Measurement window, seconds. */
  duration: number;
  /** Warm-up before the window (traffic flows, nothing is counted), seconds. */
  warmup: number;
  /** Maximum wait after the window for in-flight messages, seconds. */
  grace: number;
  /** Target delivered messages per second over all subscribers; null = as fast as possible. */
  rate: number | null;
  /** Override the scenario's publisher / subscriber counts. */
  publishers?: number | undefined;
  subscribers?: number | undefined;
  /** QoS 1: max unacknowledged PUBLISHes per publisher. */
  window: number;
  /** Max PUBLISH packets per socket write. */
  batch: number;
  /**
   * Unlimited rate: max messages in flight towards each subscriber; 0 = open loop; 'auto' = find
   * the smallest window that gives (about) the best delivered rate, up to e2eWindowMax.
   */
  e2eWindow: number | 'auto';
  /** Upper bound of the 'auto' search (messages per subscriber). */
  e2eWindowMax?: number | undefined;
  /** First topic levels (default `bench`), e.g. `channels/bench/messages` to exercise a platform channel. */
  topicPrefix?: string | undefined;
  /**
   * Payloads are valid SenML JSON packs (the 16-byte header travels hex-encoded in a string value), padded to at
   * least `payload` bytes: what a storage tap sees from real devices. Default false (opaque bytes).
   */
  senml?: boolean | undefined;
}

export interface IdleOptions extends CommonOptions {
  scenario: 'idle';
  connections: number;
  /** How long to hold the connections open after the last SUBACK, seconds (RSS is read at the end). */
  duration: number;
}

export interface BrokerTrafficStats {
  pid: number;
  /** Over the measurement window, percent of one core. */
  cpuPct: number;
  rssStartKiB: number;
  rssPeakKiB: number;
  rssEndKiB: number;
  alive: boolean;
}

export interface GeneratorStats {
  /** Over the measurement window, percent of one core. */
  cpuPct: number;
  userPct: number;
  sysPct: number;
  /** True when the generator used >= 90 % of a core: its numbers may be a lower bound. */
  saturated: boolean;
}

export interface TrafficResult {
  kind: 'traffic';
  ok: boolean;
  errors: string[];
  warnings: string[];
  scenario: TrafficScenario;
  qos: 0 | 1;
  /** Payload bytes per message (SenML payloads may be longer than asked for). */
  payload: number;
  /** Payloads were SenML JSON packs. */
  senml: boolean;
  publishers: number;
  subscribers: number;
  /** Deliveries expected per published message. */
  fanout: number;
  /** Target delivered msgs/s (null = unlimited). */
  rateTarget: number | null;
  /** End-to-end window per subscriber used in the window (0 = open loop or fixed rate). */
  e2eWindow: number;
  /** The resulting window per publisher, messages. */
  e2eWindowPerPublisher: number;
  /** 'auto' search: delivered msgs/s measured for each window tried (empty when not searched). */
  e2eTuning: Array<{ window: number; deliveredPerSec: number; brokerCpuPct?: number; dropped?: number }>;
  /** Times a publisher wrote off its stuck window (messages the broker dropped). */
  stalls: number;
  warmupSec: number;
  windowSec: number;
  /** Publishes sent during the window. */
  sent: number;
  expected: number;
  delivered: number;
  /** Every PUBLISH the subscribers received over the whole run (window search and warm-up included). */
  receivedTotal: number;
  loss: number;
  lossPct: number;
  /** Messages due (rate mode) but not sent because of the in-flight window or backpressure. */
  backlog: number;
  /** QoS 1: publishes still without PUBACK after the grace period. */
  unacked: number;
  publishedPerSec: number;
  deliveredPerSec: number;
  latencyMs: LatencySummary;
  broker: BrokerTrafficStats | null;
  generator: GeneratorStats;
  /**
   * CPU use of the whole machine during the window. otherPct is what neither the broker nor the
   * generator used (other processes): a high value means the numbers are disturbed.
   */
  system: SystemLoad | null;
  /**
   * Heuristic: which side was CPU-bound: 'broker', 'generator', 'both', 'rate' (fixed-rate run) or
   * 'window' (neither: the closed-loop window or latency limited the throughput; raise e2eWindow).
   */
  bottleneck: string;
}

export interface IdleResult {
  kind: 'idle';
  ok: boolean;
  errors: string[];
  warnings: string[];
  scenario: 'idle';
  connectionsRequested: number;
  connected: number;
  failed: number;
  /** First CONNECT to last SUBACK, seconds. */
  connectSec: number;
  /** Connections (CONNECT + CONNACK + SUBSCRIBE + SUBACK) per second. */
  connectRate: number;
  holdSec: number;
  sourceAddresses: number;
  broker: {
    pid: number;
    rssBeforeKiB: number;
    rssAfterKiB: number;
    rssPeakKiB: number;
    /** (after - before) / connected. */
    rssPerConnKiB: number;
    cpuPctDuringConnect: number;
    alive: boolean;
  } | null;
  generator: GeneratorStats;
  /**
   * System-wide TCP counter deltas during the connect phase: accept-queue overflows/drops make
   * clients retransmit SYN/ACK after ~1 s, which caps the connect rate.
   */
  tcp: TcpCounters | null;
}

export type LoadResult = TrafficResult | IdleResult;

/** Payload prefix: float64 send timestamp + uint32 publisher index + uint32 sequence number. */
const HEADER_BYTES = 16;
/** SenML payloads: the header as 32 hex digits in the first record's string value. */
const SENML_PREFIX = '[{"n":"hdr","vs":"';
const SENML_HEADER_CHARS = 2 * HEADER_BYTES;
const SENML_MIN_SUFFIX = '"},{"n":"temp","u":"Cel","v":21.5}]';
const HEX_DIGITS = Buffer.from('0123456789abcdef');
/** Scratch for one header while it is hex-encoded or decoded. */
const HEADER_SCRATCH = Buffer.alloc(HEADER_BYTES);
const HEADER_SCRATCH_VIEW = new DataView(HEADER_SCRATCH.buffer, HEADER_SCRATCH.byteOffset, HEADER_BYTES);

/** A SenML JSON pack of at least `size` bytes whose header placeholder starts at SENML_PREFIX.length. */
export function senmlPayload(size: number): Buffer {
  const fixed = SENML_PREFIX.length + SENML_HEADER_CHARS + SENML_MIN_SUFFIX.length;
  if (size <= fixed)
    return Buffer.from(`${SENML_PREFIX}${'0'.repeat(SENML_HEADER_CHARS)}${SENML_MIN_SUFFIX}`);
  // pad with a third record: `,{"n":"pad","vs":"xxx"}` (23 bytes + its value)
  const padRecord = ',{"n":"pad","vs":""}';
  const pad = Math.max(0, size - fixed - padRecord.length);
  const suffix = `${SENML_MIN_SUFFIX.slice(0, -1)},{"n":"pad","vs":"${'x'.repeat(pad)}"}]`;
  return Buffer.from(`${SENML_PREFIX}${'0'.repeat(SENML_HEADER_CHARS)}${suffix}`);
}

function hexEncodeHeader(dst: Buffer, o: number, ts: number, pubIndex: number, seq: number): void {
  HEADER_SCRATCH_VIEW.setFloat64(0, ts, true);
  HEADER_SCRATCH_VIEW.setUint32(8, pubIndex, true);
  HEADER_SCRATCH_VIEW.setUint32(12, seq, true);
  for (let i = 0; i < HEADER_BYTES; i++) {
    const b = HEADER_SCRATCH[i]!;
    dst[o + 2 * i] = HEX_DIGITS[b >> 4]!;
    dst[o + 2 * i + 1] = HEX_DIGITS[b & 15]!;
  }
}

function hexValue(c: number): number {
  return c <= 0x39 ? c - 0x30 : c - 0x57;
}

/** Decodes a hex header into HEADER_SCRATCH. */
function hexDecodeHeader(src: Buffer, o: number): void {
  for (let i = 0; i < HEADER_BYTES; i++) {
    HEADER_SCRATCH[i] = (hexValue(src[o + 2 * i]!) << 4) | hexValue(src[o + 2 * i + 1]!);
  }
}
/** A full end-to-end window that does not move for this long is written off. */
const STALL_MS = 2000;
/** 'auto' window search: per step, settle then measure the delivered rate. */
const TUNE_SETTLE_MS = 100;
const TUNE_FIRST_SETTLE_MS = 500;
const TUNE_MEASURE_MS = 200;
const TUNE_DRAIN_MAX_MS = 5000;
/** Doubling the window must gain this factor; the smallest window within it of the best wins. */
const TUNE_GAIN = 1.05;
/** Broker CPU (% of a core) above which a window step without gain ends the search. */
const TUNE_BUSY_PCT = 85;
/** Connections per loopback source address before spreading over 127.0.0.x. */
const CONNS_PER_SOURCE = 8000;
/** Rate mode: stop queueing in user space beyond this (the broker is not keeping up). */
const MAX_WRITABLE_BYTES = 4 * 1024 * 1024;

/** One read buffer shared by all sockets: each chunk is processed synchronously, leftovers copied. */
const READ_BUFFER = Buffer.allocUnsafe(256 * 1024);
/** DataView reads are inlined by V8; Buffer#readDoubleLE copies byte by byte (~20 % of the CPU). */
const READ_VIEW = new DataView(READ_BUFFER.buffer, READ_BUFFER.byteOffset, READ_BUFFER.byteLength);
/** Scratch for the PUBACKs of one read chunk (min QoS 1 PUBLISH frame is 7 bytes). */
const ACK_SCRATCH = Buffer.allocUnsafe(4 * (Math.ceil(READ_BUFFER.length / 7) + 2));

function round(n: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

function errMsg(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** Receive-side counters shared by all subscribers of a run. */
class Recorder {
  t0 = Number.POSITIVE_INFINITY;
  t1 = Number.POSITIVE_INFINITY;
  now = 0;
  total = 0;
  /** Sequence numbers skipped at some subscriber: messages the broker dropped (any time, tuning included). */
  gaps = 0;
  measured = 0;
  inWindow = 0;
  readonly hist = new LatencyHistogram();
  /**
   * Per publisher: messages known to be past the broker, summed over its subscribers (delivered
   * or skipped by a later sequence number). Drives the end-to-end window.
   */
  progress: Float64Array = new Float64Array(0);

  /** `last`: the receiving subscriber's highest sequence number per publisher. */
  onPublish(ts: number, pubIndex: number, seq: number, last: Float64Array): void {
    this.total++;
    if (pubIndex < last.length) {
      const prev = last[pubIndex]!;
      if (seq > prev) {
        if (seq > prev + 1) this.gaps += seq - prev - 1;
        this.progress[pubIndex]! += seq - prev;
        last[pubIndex] = seq;
      }
    }
    const now = this.now;
    if (now >= this.t0 && now < this.t1) this.inWindow++;
    if (ts >= this.t0 && ts < this.t1) {
      this.measured++;
      this.hist.recordMs(now - ts);
    }
  }
}

interface Waiter {
  type: number;
  resolve: (code: number) => void;
}

/** One MQTT connection: socket, frame splitter and the role-specific frame handling. */
class Conn implements FrameSink {
  readonly socket: net.Socket;
  private readonly splitter = new FrameSplitter(this);
  private waiter: Waiter | null = null;
  private ackOff = 0;
  /** Set for subscribers: receives PUBLISH accounting. */
  rec: Recorder | null = null;
  /** Subscribers: highest sequence number seen per publisher index. */
  lastSeq: Float64Array = new Float64Array(0);
  /** Payloads carry the header hex-encoded inside a SenML pack. */
  senml = false;
  /** Set for publishers: receives PUBACKs. */
  pub: Publisher | null = null;
  closing = false;
  closed = false;
  failure: string | null = null;
  onUnexpectedClose: ((c: Conn) => void) | null = null;
  onDeliveries: (() => void) | null = null;

  constructor(host: string, port: number, localAddress: string | undefined) {
    this.socket = net.connect({
      host,
      port,
      ...(localAddress ? { localAddress } : {}),
      noDelay: true,
      onread: {
        buffer: READ_BUFFER,
        callback: (n: number, buf: Uint8Array): boolean => {
          this.onChunk(buf as Buffer, n);
          return true;
        },
      },
    });
    this.socket.on('error', (e) => {
      if (!this.failure) this.failure = errMsg(e);
    });
    this.socket.on('close', () => {
      this.closed = true;
      const w = this.waiter;
      this.waiter = null;
      w?.resolve(-1);
      if (!this.closing) this.onUnexpectedClose?.(this);
    });
  }

  private onChunk(buf: Buffer, n: number): void {
    const rec = this.rec;
    if (rec !== null) rec.now = performance.now();
    try {
      this.splitter.push(buf, n);
    } catch (e) {
      this.failure = `protocol error: ${errMsg(e)}`;
      this.socket.destroy();
      return;
    }
    if (this.ackOff > 0) {
      this.socket.write(Buffer.from(ACK_SCRATCH.subarray(0, this.ackOff)));
      this.ackOff = 0;
    }
    if (this.rec !== null) this.onDeliveries?.();
    else this.pub?.afterChunk();
  }

  onFrame(buf: Buffer, header: number, start: number, end: number): void {
    const type = header >> 4;
    if (type === PacketType.PUBLISH) {
      let p = start + 2 + ((buf[start]! << 8) | buf[start + 1]!);
      if ((header & 0x06) !== 0) {
        // QoS > 0: answer with PUBACK (batched per chunk in onChunk).
        const o = this.ackOff;
        ACK_SCRATCH[o] = 0x40;
        ACK_SCRATCH[o + 1] = 0x02;
        ACK_SCRATCH[o + 2] = buf[p]!;
        ACK_SCRATCH[o + 3] = buf[p + 1]!;
        this.ackOff = o + 4;
        p += 2;
      }
      if (this.rec !== null && this.senml) {
        if (end - p >= SENML_PREFIX.length + SENML_HEADER_CHARS) {
          hexDecodeHeader(buf, p + SENML_PREFIX.length);
          this.rec.onPublish(
            HEADER_SCRATCH_VIEW.getFloat64(0, true),
            HEADER_SCRATCH_VIEW.getUint32(8, true),
            HEADER_SCRATCH_VIEW.getUint32(12, true),
            this.lastSeq,
          );
        }
      } else if (this.rec !== null && end - p >= HEADER_BYTES) {
        // Frames straddling two reads arrive in their own buffer (rare).
        const dv = buf === READ_BUFFER ? READ_VIEW : new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
        this.rec.onPublish(
          dv.getFloat64(p, true),
          dv.getUint32(p + 8, true),
          dv.getUint32(p + 12, true),
          this.lastSeq,
        );
      }
      return;
    }
    if (type === PacketType.PUBACK) {
      this.pub?.onPuback();
      return;
    }
    const w = this.waiter;
    if (w !== null && w.type === type) {
      this.waiter = null;
      // CONNACK: return code is the 2nd body byte; SUBACK: first granted QoS after the packet id.
      w.resolve(type === PacketType.CONNACK ? buf[start + 1]! : buf[start + 2]!);
    }
  }

  /** Resolves when TCP is connected, rejects on error/timeout. */
  opened(timeoutMs: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => done(new Error('TCP connect timeout')), timeoutMs);
      const done = (err?: Error): void => {
        clearTimeout(t);
        this.socket.off('connect', onConnect);
        this.socket.off('close', onClose);
        if (err) reject(err);
        else resolve();
      };
      const onConnect = (): void => done();
      const onClose = (): void => done(new Error(this.failure ?? 'connection closed'));
      this.socket.once('connect', onConnect);
      this.socket.once('close', onClose);
    });
  }

  /** Writes `packet` and resolves with the code of the expected reply (-1 on close/timeout). */
  request(packet: Buffer, replyType: number, timeoutMs: number): Promise<number> {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        if (this.waiter?.resolve === finish) this.waiter = null;
        finish(-2);
      }, timeoutMs);
      const finish = (code: number): void => {
        clearTimeout(t);
        resolve(code);
      };
      this.waiter = { type: replyType, resolve: finish };
      this.socket.write(packet);
    });
  }

  /** MQTT DISCONNECT, then FIN. */
  close(): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    if (this.socket.writable) this.socket.end(DISCONNECT);
    else this.socket.destroy();
  }

  destroy(): void {
    this.closing = true;
    this.socket.destroy();
  }
}

/** Publisher side of one connection: pre-encoded batch template, in-flight window, counters. */
class Publisher {
  inflight = 0;
  pending = 0;
  blocked = false;
  sentTotal = 0;
  sentMeasured = 0;
  /** Deliveries written off after a stall (end-to-end window accounting). */
  writtenOff = 0;
  stallCheckAt = 0;
  stallCheckDelivered = -1;
  private nextPid = 1;
  private readonly template: Buffer;
  private readonly size: number;
  private readonly tsOffset: number;
  private readonly pidOffset: number;

  constructor(
    readonly conn: Conn,
    readonly index: number,
    topic: string,
    payload: Buffer,
    private readonly qos: 0 | 1,
    private readonly batch: number,
    private readonly window: number,
    private readonly run: RunState,
    private readonly senml: boolean,
  ) {
    const body = Buffer.from(payload);
    if (!senml) body.writeUInt32LE(index, 8);
    const t = encodePublish(topic, body, qos);
    this.size = t.packet.length;
    this.tsOffset = t.payloadOffset + (senml ? SENML_PREFIX.length : 0);
    this.pidOffset = t.packetIdOffset;
    this.template = Buffer.allocUnsafe(this.size * batch);
    for (let i = 0; i < batch; i++) t.packet.copy(this.template, i * this.size);
    conn.pub = this;
  }

  /** Deliveries still expected for what this publisher sent (minus written-off ones). */
  outstanding(): number {
    return this.sentTotal * this.run.fanout - this.run.rec.progress[this.index]! - this.writtenOff;
  }

  /**
   * How many packets may be written now (batch, PUBACK window, end-to-end window). With
   * `chunky`, a window only opens once a good part of it is free: refilling one packet per
   * acknowledgement would turn every write and read on both sides into a one-packet syscall.
   */
  room(chunky: boolean): number {
    let n = this.batch;
    if (this.qos > 0) {
      const free = this.window - this.inflight;
      if (free < n) n = free;
      if (chunky && free < Math.min(this.batch, this.window >> 1)) return 0;
    }
    const e2e = this.run.e2eWindow;
    if (chunky && e2e > 0) {
      const free = e2e - Math.ceil(this.outstanding() / this.run.fanout);
      if (free < n) n = free;
      if (free < Math.min(this.batch, e2e >> 1)) return 0;
    }
    return n;
  }

  /** Writes n (<= batch) packets in one write; returns the socket's backpressure signal. */
  send(n: number): boolean {
    const size = this.size;
    const buf = Buffer.allocUnsafe(n * size);
    this.template.copy(buf, 0, 0, n * size);
    const ts = performance.now();
    const seq0 = this.sentTotal + 1;
    if (this.senml) {
      for (let i = 0, o = this.tsOffset; i < n; i++, o += size)
        hexEncodeHeader(buf, o, ts, this.index, seq0 + i);
    } else {
      for (let i = 0, o = this.tsOffset; i < n; i++, o += size) {
        buf.writeDoubleLE(ts, o);
        buf.writeUInt32LE((seq0 + i) >>> 0, o + 12);
      }
    }
    if (this.qos > 0) {
      let pid = this.nextPid;
      for (let i = 0, o = this.pidOffset; i < n; i++, o += size) {
        buf[o] = pid >> 8;
        buf[o + 1] = pid & 0xff;
        pid = pid === 65_535 ? 1 : pid + 1;
      }
      this.nextPid = pid;
      this.inflight += n;
    }
    this.sentTotal += n;
    if (ts >= this.run.rec.t0 && ts < this.run.rec.t1) this.sentMeasured += n;
    return this.conn.socket.write(buf);
  }

  onPuback(): void {
    if (this.inflight > 0) this.inflight--;
  }

  afterChunk(): void {
    this.run.onPublisherProgress(this);
  }
}

interface RunState {
  rec: Recorder;
  fanout: number;
  e2eWindow: number;
  onPublisherProgress(p: Publisher): void;
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host.startsWith('127.');
}

/** Source address for connection i when many connections go to one loopback port. */
function sourceAddresses(host: string, total: number): string[] {
  if (!isLoopback(host) || total <= CONNS_PER_SOURCE) return [];
  const n = Math.min(250, Math.ceil(total / CONNS_PER_SOURCE));
  return Array.from({ length: n }, (_, i) => `127.0.0.${i + 2}`);
}

function ensureFds(need: number, brokerPid: number | null, warnings: string[]): void {
  const self = tryRaiseFdLimit(process.pid, need);
  if (self !== null && self.soft < need) {
    throw new Error(
      `need ~${need} file descriptors but the open-files limit is ${self.soft} (hard ${self.hard}) and ` +
        'cannot be raised from here (raising the hard limit needs root with CAP_SYS_RESOURCE: ' +
        `\`ulimit -Hn ${need}\` / \`prlimit --nofile=${need}:${need}\`). Use fewer connections.`,
    );
  }
  if (brokerPid !== null) {
    const b = fdLimit(brokerPid);
    if (b !== null && b.soft < need) {
      warnings.push(
        `broker pid ${brokerPid} may open only ${b.soft} files (hard ${b.hard}); connections beyond that will fail`,
      );
    }
  }
}

export function scenarioShape(
  scenario: TrafficScenario,
  publishers?: number,
  subscribers?: number,
): { publishers: number; subscribers: number; fanout: number } {
  switch (scenario) {
    case 'fanin': {
      const subs = subscribers ?? 1;
      return { publishers: publishers ?? 10, subscribers: subs, fanout: subs };
    }
    case 'fanout': {
      const subs = subscribers ?? 50;
      return { publishers: publishers ?? 1, subscribers: subs, fanout: subs };
    }
    case 'pairs': {
      const n = publishers ?? subscribers ?? 50;
      return { publishers: n, subscribers: n, fanout: 1 };
    }
  }
}

function topicsFor(
  scenario: TrafficScenario,
  prefix: string,
  pubs: number,
  subs: number,
): { pub: string[]; sub: string[] } {
  switch (scenario) {
    case 'fanin':
      return {
        pub: Array.from({ length: pubs }, (_, i) => `${prefix}/in/${i}`),
        sub: Array.from({ length: subs }, () => `${prefix}/in/+`),
      };
    case 'fanout':
      return {
        pub: Array.from({ length: pubs }, () => `${prefix}/out`),
        sub: Array.from({ length: subs }, () => `${prefix}/out`),
      };
    case 'pairs':
      return {
        pub: Array.from({ length: pubs }, (_, i) => `${prefix}/p/${i}`),
        sub: Array.from({ length: subs }, (_, i) => `${prefix}/p/${i}`),
      };
  }
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function generatorStats(
  cpu0: NodeJS.CpuUsage,
  cpu1: NodeJS.CpuUsage,
  wall0: number,
  wall1: number,
): GeneratorStats {
  const wallUs = Math.max(1, (wall1 - wall0) * 1000);
  const user = ((cpu1.user - cpu0.user) / wallUs) * 100;
  const sys = ((cpu1.system - cpu0.system) / wallUs) * 100;
  return { cpuPct: round(user + sys), userPct: round(user), sysPct: round(sys), saturated: user + sys >= 90 };
}

/** Owns every socket and timer of a run; `dispose` is idempotent and always called. */
class Resources {
  readonly conns: Conn[] = [];
  /** Run at dispose time (e.g. stopping samplers). */
  readonly cleanups: Array<() => void> = [];
  private readonly timers: NodeJS.Timeout[] = [];
  private disposed = false;

  timer(t: NodeJS.Timeout): NodeJS.Timeout {
    this.timers.push(t);
    return t;
  }

  async dispose(waitMs = 1000): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    for (const t of this.timers) clearTimeout(t);
    for (const f of this.cleanups) f();
    for (const c of this.conns) c.close();
    const deadline = performance.now() + waitMs;
    while (performance.now() < deadline && this.conns.some((c) => !c.closed)) await sleep(20);
    for (const c of this.conns) if (!c.closed) c.destroy();
  }
}

interface Handshake {
  conn: Conn;
  error: string | null;
}

async function connectClient(
  res: Resources,
  o: CommonOptions,
  clientId: string,
  localAddress: string | undefined,
  subscribe: { filter: string; qos: 0 | 1 } | null,
): Promise<Handshake> {
  const conn = new Conn(o.host, o.port, localAddress);
  res.conns.push(conn);
  const timeoutMs = o.connectTimeout * 1000;
  try {
    await conn.opened(timeoutMs);
  } catch (e) {
    conn.destroy();
    return { conn, error: `connect: ${errMsg(e)}` };
  }
  const rc = await conn.request(encodeConnect(clientId, o.keepalive), PacketType.CONNACK, timeoutMs);
  if (rc !== 0) {
    conn.destroy();
    const why = rc === -1 ? (conn.failure ?? 'closed') : rc === -2 ? 'timeout' : `return code ${rc}`;
    return { conn, error: `CONNACK: ${why}` };
  }
  if (subscribe) {
    const granted = await conn.request(
      encodeSubscribe(1, subscribe.filter, subscribe.qos),
      PacketType.SUBACK,
      timeoutMs,
    );
    if (granted < 0 || granted === 0x80) {
      conn.destroy();
      const why = granted === -1 ? (conn.failure ?? 'closed') : granted === -2 ? 'timeout' : 'refused (0x80)';
      return { conn, error: `SUBACK: ${why}` };
    }
    if (granted !== subscribe.qos) {
      conn.destroy();
      return { conn, error: `SUBACK: granted QoS ${granted}, asked ${subscribe.qos}` };
    }
  }
  return { conn, error: null };
}

/** Runs `fn(i)` for i in [0, n) with at most `limit` in flight. */
async function pool(n: number, limit: number, fn: (i: number) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, n)) }, worker));
}

function startKeepalive(res: Resources, keepalive: number): void {
  if (keepalive <= 0) return;
  const t = setInterval(
    () => {
      for (const c of res.conns) if (!c.closed && !c.closing) c.socket.write(PINGREQ);
    },
    (keepalive * 1000) / 2,
  );
  t.unref();
  res.timer(t);
}

/** Races `work` against a hard deadline so that every run is bounded in time. */
async function bounded<T>(ms: number, what: string, work: Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    t = setTimeout(() => reject(new Error(`${what}: hard time limit of ${Math.round(ms / 1000)} s hit`)), ms);
  });
  try {
    return await Promise.race([work, limit]);
  } finally {
    clearTimeout(t);
  }
}

function runId(): string {
  return Math.random().toString(36).slice(2, 8).padEnd(6, '0');
}

export async function runTraffic(o: TrafficOptions): Promise<TrafficResult> {
  const shape = scenarioShape(o.scenario, o.publishers, o.subscribers);
  if (o.payload < HEADER_BYTES) throw new Error(`payload must be >= ${HEADER_BYTES} bytes`);
  if (o.qos === 1 && (o.window < 1 || o.window > 65_000)) throw new Error('window must be in [1, 65000]');
  if (o.batch < 1) throw new Error('batch must be >= 1');
  const warnings: string[] = [];
  const errors: string[] = [];
  ensureFds(openFds() + shape.publishers + shape.subscribers + 32, o.brokerPid, warnings);

  const res = new Resources();
  // + window search (<= 7 steps of 0.3 s) and its drain (<= 5 s)
  const hardLimitMs = (o.connectTimeout + o.warmup + o.duration + o.grace + 20) * 1000;
  try {
    return await bounded(hardLimitMs, 'traffic run', trafficInner(o, shape, res, warnings, errors));
  } finally {
    await res.dispose();
  }
}

async function trafficInner(
  o: TrafficOptions,
  shape: { publishers: number; subscribers: number; fanout: number },
  res: Resources,
  warnings: string[],
  errors: string[],
): Promise<TrafficResult> {
  const id = runId();
  const prefix = `${o.topicPrefix ?? 'bench'}/${id}`;
  const topics = topicsFor(o.scenario, prefix, shape.publishers, shape.subscribers);
  const sources = sourceAddresses(o.host, shape.publishers + shape.subscribers);
  const src = (i: number): string | undefined => (sources.length ? sources[i % sources.length] : undefined);
  const rec = new Recorder();
  const sampler = o.brokerPid !== null ? new RssSampler(o.brokerPid) : null;
  sampler?.start();
  if (sampler) res.cleanups.push(() => sampler.stop());

  let sending = false;
  let rateMode = false;
  let pumpScheduled = false;
  const pubs: Publisher[] = [];
  const pump = (): void => {
    pumpScheduled = false;
    if (!sending) return;
    let progressed = false;
    for (const p of pubs) {
      if (p.blocked) continue;
      const n = p.room(true);
      if (n <= 0) continue;
      if (p.send(n)) {
        progressed = true;
      } else {
        p.blocked = true;
        p.conn.socket.once('drain', () => {
          p.blocked = false;
          schedulePump();
        });
      }
    }
    if (progressed) schedulePump();
  };
  const schedulePump = (): void => {
    if (!pumpScheduled && sending) {
      pumpScheduled = true;
      setImmediate(pump);
    }
  };
  const flushPending = (p: Publisher): void => {
    while (p.pending > 0 && p.conn.socket.writableLength < MAX_WRITABLE_BYTES) {
      const room = p.room(false);
      if (room <= 0) return;
      const n = Math.min(p.pending, room);
      p.pending -= n;
      p.send(n);
    }
  };
  // Per-publisher share of a per-subscriber window (see the header comment).
  const perPublisher = (w: number): number =>
    w > 0 ? Math.max(1, Math.floor((w * shape.subscribers) / (shape.publishers * shape.fanout))) : 0;
  const auto = o.rate === null && o.e2eWindow === 'auto';
  const AUTO_START = 64;
  let windowPerSub = o.rate !== null ? 0 : o.e2eWindow === 'auto' ? AUTO_START : o.e2eWindow;
  const e2eWindow = perPublisher(windowPerSub);
  const state: RunState = {
    rec,
    fanout: shape.fanout,
    e2eWindow,
    onPublisherProgress(p: Publisher): void {
      if (!sending) return;
      if (rateMode) {
        if (p.pending > 0) flushPending(p);
      } else if (!p.blocked && p.room(true) > 0) {
        schedulePump();
      }
    },
  };
  rec.progress = new Float64Array(shape.publishers);
  const onDeliveries = (): void => {
    if (e2eWindow > 0) schedulePump();
  };

  let unexpectedCloses = 0;
  const onUnexpectedClose = (c: Conn): void => {
    unexpectedCloses++;
    if (unexpectedCloses <= 5) errors.push(`connection closed unexpectedly: ${c.failure ?? 'by peer'}`);
  };

  // Subscribers first, so every subscription exists before the first PUBLISH.
  const payload = o.senml === true ? senmlPayload(o.payload) : Buffer.alloc(o.payload, 0x78);
  const subResults: Handshake[] = new Array(shape.subscribers);
  await pool(shape.subscribers, o.connectConcurrency, async (i) => {
    subResults[i] = await connectClient(res, o, `lg${id}s${i}`, src(i), {
      filter: topics.sub[i]!,
      qos: o.qos,
    });
  });
  const pubResults: Handshake[] = new Array(shape.publishers);
  await pool(shape.publishers, o.connectConcurrency, async (i) => {
    pubResults[i] = await connectClient(res, o, `lg${id}p${i}`, src(shape.subscribers + i), null);
  });
  const failed = [...subResults, ...pubResults].filter((h) => h.error !== null);
  if (failed.length > 0) {
    throw new Error(`${failed.length} connection(s) failed, first: ${failed[0]!.error}`);
  }
  for (const h of subResults) {
    h.conn.rec = rec;
    h.conn.lastSeq = new Float64Array(shape.publishers);
    h.conn.senml = o.senml === true;
    h.conn.onUnexpectedClose = onUnexpectedClose;
    h.conn.onDeliveries = onDeliveries;
  }
  for (let i = 0; i < shape.publishers; i++) {
    const conn = pubResults[i]!.conn;
    conn.onUnexpectedClose = onUnexpectedClose;
    pubs.push(
      new Publisher(conn, i, topics.pub[i]!, payload, o.qos, o.batch, o.window, state, o.senml === true),
    );
  }
  startKeepalive(res, o.keepalive);

  const start = performance.now();
  // t0/t1 are set after the window search; until then nothing counts (t0 = +Infinity).
  sending = true;
  let scheduled = 0;
  let rr = 0;
  let stalls = 0;
  if (o.rate !== null) {
    rateMode = true;
    const pubPerMs = o.rate / shape.fanout / 1000;
    const tick = (): void => {
      const now = performance.now();
      if (!sending || now >= rec.t1) return;
      const due = Math.floor((now - start) * pubPerMs) - scheduled;
      if (due <= 0) return;
      scheduled += due;
      const n = pubs.length;
      const base = Math.floor(due / n);
      let extra = due - base * n;
      for (let k = 0; k < n; k++) {
        const p = pubs[rr]!;
        rr = rr + 1 === n ? 0 : rr + 1;
        p.pending += base + (extra > 0 ? 1 : 0);
        if (extra > 0) extra--;
        flushPending(p);
      }
    };
    res.timer(setInterval(tick, 1));
  } else {
    schedulePump();
    if (e2eWindow > 0) {
      // Write off windows that stopped moving (the broker dropped those messages).
      const check = (): void => {
        const now = performance.now();
        for (const p of pubs) {
          const got = rec.progress[p.index]!;
          // Late deliveries of written-off messages give their credit back.
          if (p.writtenOff > 0 && p.outstanding() < 0)
            p.writtenOff = Math.max(0, p.writtenOff + p.outstanding());
          if (got !== p.stallCheckDelivered || p.outstanding() <= 0) {
            p.stallCheckDelivered = got;
            p.stallCheckAt = now;
          } else if (now - p.stallCheckAt >= STALL_MS && p.room(true) <= 0) {
            p.writtenOff += p.outstanding();
            p.stallCheckAt = now;
            stalls++;
            schedulePump();
          }
        }
      };
      res.timer(setInterval(check, 50));
    }
  }

  const tuning: Array<{ window: number; deliveredPerSec: number; brokerCpuPct?: number; dropped?: number }> =
    [];
  if (auto) {
    const max = Math.max(AUTO_START, o.e2eWindowMax ?? 4096);
    let bestRate = 0;
    for (let w = AUTO_START; w <= max; w *= 2) {
      state.e2eWindow = perPublisher(w);
      schedulePump();
      // The first step also absorbs the cold start (JIT, first allocations) of both sides.
      await sleep(w === AUTO_START ? TUNE_FIRST_SETTLE_MS : TUNE_SETTLE_MS);
      const c0 = rec.total;
      const g0 = rec.gaps;
      const m0 = performance.now();
      const s0 = o.brokerPid !== null ? snapshot(o.brokerPid) : null;
      await sleep(TUNE_MEASURE_MS);
      const rate = ((rec.total - c0) * 1000) / (performance.now() - m0);
      const dropped = rec.gaps - g0;
      const cpu = s0 !== null && o.brokerPid !== null ? cpuPercent(s0, snapshot(o.brokerPid)) : null;
      tuning.push({
        window: w,
        deliveredPerSec: Math.round(rate),
        ...(cpu !== null ? { brokerCpuPct: round(cpu) } : {}),
        ...(dropped > 0 ? { dropped } : {}),
      });
      // The broker dropped messages at this window (its queues overflowed): a larger one only drops more.
      if (dropped > 0) break;
      // Past the knee: doubling gained nothing and the broker is busy (or not observed). While the
      // broker still has idle time, a flat step is more likely noise: keep doubling.
      if (rate < bestRate * TUNE_GAIN && (cpu === null || cpu >= TUNE_BUSY_PCT)) break;
      bestRate = Math.max(bestRate, rate);
    }
    // Only windows at which nothing was dropped count (the first one always does: it is the floor).
    const lossless = tuning.filter((t, i) => i === 0 || t.dropped === undefined);
    const best = Math.max(...lossless.map((t) => t.deliveredPerSec));
    windowPerSub = lossless.find((t) => t.deliveredPerSec * TUNE_GAIN >= best)?.window ?? AUTO_START;
    state.e2eWindow = perPublisher(windowPerSub);
    // Let the backlog of the larger windows tried drain to the chosen window (bounded), so that
    // the warm-up starts from the steady state of that window.
    const limit = state.e2eWindow * shape.fanout;
    const drainEnd = performance.now() + TUNE_DRAIN_MAX_MS;
    while (performance.now() < drainEnd && pubs.some((p) => p.outstanding() > limit)) await sleep(10);
    schedulePump();
  }
  rec.t0 = performance.now() + o.warmup * 1000;
  rec.t1 = rec.t0 + o.duration * 1000;

  // Window boundaries: CPU snapshots of the broker and of this process.
  let b0: ProcSnapshot | null = null;
  let b1: ProcSnapshot | null = null;
  await sleep(Math.max(0, rec.t0 - performance.now()));
  const cpu0 = process.cpuUsage();
  const w0 = performance.now();
  const sys0: CpuTimes | null = cpuTimes();
  if (o.brokerPid !== null) b0 = snapshot(o.brokerPid);
  await sleep(Math.max(0, rec.t1 - performance.now()));
  const cpu1 = process.cpuUsage();
  const w1 = performance.now();
  const sys1: CpuTimes | null = cpuTimes();
  if (o.brokerPid !== null) b1 = snapshot(o.brokerPid);
  sending = false;

  // Grace: wait for in-flight deliveries (and PUBACKs) until complete, stalled or out of time.
  const sentMeasured = pubs.reduce((s, p) => s + p.sentMeasured, 0);
  const expected = sentMeasured * shape.fanout;
  const graceEnd = performance.now() + o.grace * 1000;
  let last = -1;
  let lastChange = performance.now();
  for (;;) {
    const unacked = pubs.reduce((s, p) => s + p.inflight, 0);
    if (rec.measured >= expected && unacked === 0) break;
    const now = performance.now();
    const progress = rec.measured + rec.total + unacked;
    if (progress !== last) {
      last = progress;
      lastChange = now;
    } else if (now - lastChange > 1000) {
      break;
    }
    if (now >= graceEnd) break;
    await sleep(10);
  }
  sampler?.stop();

  const windowSec = (w1 - w0) / 1000;
  const backlog = pubs.reduce((s, p) => s + p.pending, 0);
  const unacked = pubs.reduce((s, p) => s + p.inflight, 0);
  const loss = expected - rec.measured;
  const generator = generatorStats(cpu0, cpu1, w0, w1);
  let broker: BrokerTrafficStats | null = null;
  if (o.brokerPid !== null && b0 !== null && b1 !== null && sampler !== null) {
    const alive = snapshot(o.brokerPid).alive;
    if (!alive) errors.push(`broker pid ${o.brokerPid} is gone`);
    broker = {
      pid: o.brokerPid,
      cpuPct: round(cpuPercent(b0, b1)),
      rssStartKiB: b0.rssKiB,
      rssPeakKiB: sampler.peakKiB,
      rssEndKiB: sampler.lastKiB,
      alive,
    };
  }
  const system =
    sys0 !== null && sys1 !== null ? systemLoad(sys0, sys1, (broker?.cpuPct ?? 0) + generator.cpuPct) : null;
  let bottleneck: string;
  if (o.rate !== null) bottleneck = 'rate';
  else if (broker !== null && broker.cpuPct >= 90 && generator.saturated) bottleneck = 'both';
  else if (broker !== null && broker.cpuPct >= 90) bottleneck = 'broker';
  else if (generator.saturated) bottleneck = 'generator';
  else bottleneck = broker === null ? 'unknown' : 'window';
  if (system !== null && system.otherPct >= 15) {
    warnings.push(
      `other processes used ~${system.otherPct}% of a core during the window: numbers are disturbed`,
    );
  }
  if (rec.measured > expected) {
    warnings.push(`delivered ${rec.measured - expected} more than expected (duplicates?)`);
  }
  if (o.rate !== null && backlog > 0) {
    warnings.push(`${backlog} messages due at the target rate were never sent (window/backpressure)`);
  }
  return {
    kind: 'traffic',
    ok: errors.length === 0,
    errors,
    warnings,
    scenario: o.scenario,
    qos: o.qos,
    payload: o.senml === true ? senmlPayload(o.payload).length : o.payload,
    senml: o.senml === true,
    publishers: shape.publishers,
    subscribers: shape.subscribers,
    fanout: shape.fanout,
    rateTarget: o.rate,
    e2eWindow: windowPerSub,
    e2eWindowPerPublisher: state.e2eWindow,
    e2eTuning: tuning,
    stalls,
    warmupSec: o.warmup,
    windowSec: round(windowSec, 3),
    sent: sentMeasured,
    expected,
    delivered: rec.measured,
    receivedTotal: rec.total,
    loss,
    lossPct: expected > 0 ? round((loss / expected) * 100, 3) : 0,
    backlog,
    unacked,
    publishedPerSec: Math.round(sentMeasured / windowSec),
    deliveredPerSec: Math.round(rec.inWindow / windowSec),
    latencyMs: rec.hist.summary(),
    broker,
    generator,
    system,
    bottleneck,
  };
}

export async function runIdle(o: IdleOptions): Promise<IdleResult> {
  const warnings: string[] = [];
  const errors: string[] = [];
  ensureFds(openFds() + o.connections + 32, o.brokerPid, warnings);
  const res = new Resources();
  const hardLimitMs = (o.connectTimeout + o.duration + 30) * 1000;
  try {
    return await bounded(hardLimitMs, 'idle run', idleInner(o, res, warnings, errors));
  } finally {
    await res.dispose(5000);
  }
}

async function idleInner(
  o: IdleOptions,
  res: Resources,
  warnings: string[],
  errors: string[],
): Promise<IdleResult> {
  const id = runId();
  const sources = sourceAddresses(o.host, o.connections);
  const sampler = o.brokerPid !== null ? new RssSampler(o.brokerPid, 200) : null;
  const rssBefore = sampler?.sample() ?? 0;
  sampler?.start();
  if (sampler) res.cleanups.push(() => sampler.stop());
  const b0 = o.brokerPid !== null ? snapshot(o.brokerPid) : null;
  const tcp0 = tcpCounters();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const deadline = t0 + o.connectTimeout * 1000;
  let connected = 0;
  let failed = 0;
  let skipped = 0;
  const failures = new Map<string, number>();
  await pool(o.connections, o.connectConcurrency, async (i) => {
    if (performance.now() >= deadline) {
      skipped++;
      return;
    }
    const h = await connectClient(
      res,
      o,
      `li${id}${i}`,
      sources.length ? sources[i % sources.length] : undefined,
      { filter: `bench/${id}/idle/${i}`, qos: 0 },
    );
    if (h.error === null) {
      connected++;
    } else {
      failed++;
      failures.set(h.error, (failures.get(h.error) ?? 0) + 1);
    }
  });
  const t1 = performance.now();
  const cpu1 = process.cpuUsage();
  const b1 = o.brokerPid !== null ? snapshot(o.brokerPid) : null;
  const tcp1 = tcpCounters();
  const tcp: TcpCounters | null =
    tcp0 !== null && tcp1 !== null
      ? {
          listenOverflows: tcp1.listenOverflows - tcp0.listenOverflows,
          listenDrops: tcp1.listenDrops - tcp0.listenDrops,
          retransSegs: tcp1.retransSegs - tcp0.retransSegs,
        }
      : null;
  if (tcp !== null && tcp.listenOverflows > 0) {
    warnings.push(
      `${tcp.listenOverflows} accept-queue overflows during connect (system-wide): the broker accepted too slowly ` +
        'for --connect-concurrency; clients retried after ~1 s',
    );
  }
  if (skipped > 0)
    errors.push(`connect phase hit the ${o.connectTimeout} s timeout; ${skipped} not attempted`);
  for (const [msg, n] of failures) errors.push(`${n} x ${msg}`);
  startKeepalive(res, o.keepalive);

  let closedByBroker = 0;
  for (const c of res.conns) {
    c.onUnexpectedClose = () => {
      closedByBroker++;
    };
  }
  await sleep(o.duration * 1000);
  sampler?.stop();
  const stillOpen = res.conns.filter((c) => !c.closed && !c.closing).length;
  if (closedByBroker > 0) errors.push(`${closedByBroker} connection(s) closed by the broker while idle`);

  const connectSec = (t1 - t0) / 1000;
  let broker: IdleResult['broker'] = null;
  if (o.brokerPid !== null && sampler !== null && b0 !== null && b1 !== null) {
    const rssAfter = sampler.lastKiB;
    broker = {
      pid: o.brokerPid,
      rssBeforeKiB: rssBefore,
      rssAfterKiB: rssAfter,
      rssPeakKiB: sampler.peakKiB,
      rssPerConnKiB: connected > 0 ? round((rssAfter - rssBefore) / connected, 2) : 0,
      cpuPctDuringConnect: round(cpuPercent(b0, b1)),
      alive: b1.alive,
    };
  }
  if (stillOpen < connected) warnings.push(`${connected - stillOpen} connections dropped during the hold`);
  return {
    kind: 'idle',
    ok: errors.length === 0,
    errors,
    warnings,
    scenario: 'idle',
    connectionsRequested: o.connections,
    connected,
    failed,
    connectSec: round(connectSec, 3),
    connectRate: Math.round(connected / connectSec),
    holdSec: o.duration,
    sourceAddresses: Math.max(1, sources.length),
    broker,
    generator: generatorStats(cpu0, cpu1, t0, t1),
    tcp,
  };
}
