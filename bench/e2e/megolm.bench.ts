/**
 * Megolm micro-benchmarks: encrypt/decrypt of a 64-byte reading (library and SDK level, with and
 * without persistence) and the cost of ratchet jumps.
 *
 *   npx tsx bench/e2e/megolm.bench.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Bench, type Task } from 'tinybench';
import {
  E2EConsumer,
  E2EDevice,
  type EncryptedTelemetry,
  FileStateStore,
  generateConsumerKeyPair,
  generateIdentityKeyPair,
  MegolmInboundSession,
  MegolmOutboundSession,
  MemoryStateStore,
} from '../../e2e/index.js';
import { MegolmRatchet, RATCHET_LENGTH } from '../../e2e/ratchet.js';

const READING = Buffer.from('{"n":"urn:dev:ow:10e2073a01080063:temp","u":"Cel","v":23.1,"t":0}').subarray(
  0,
  64,
);
const POOL_SIZE = 4096;

async function encryptPool(outbound: MegolmOutboundSession): Promise<Buffer[]> {
  const pool: Buffer[] = [];
  for (let i = 0; i < POOL_SIZE; i++) pool.push(await outbound.encrypt(READING));
  return pool;
}

async function main(): Promise<void> {
  const directory = await mkdtemp(join(tmpdir(), 'omap-e2e-bench-'));
  try {
    // Library level: one outbound session, messages decrypted in order by an inbound session.
    const plain = MegolmOutboundSession.create();
    const memoryStore = new MemoryStateStore();
    const memory = MegolmOutboundSession.create({ persistence: memoryStore });
    const fileEach = MegolmOutboundSession.create({
      persistence: new FileStateStore(join(directory, 'each.state')),
    });
    const fileReserved = MegolmOutboundSession.create({
      persistence: new FileStateStore(join(directory, 'reserved.state')),
      reserve: 1000,
    });

    const source = MegolmOutboundSession.create();
    const sessionKey = source.sessionKey();
    const pool = await encryptPool(source);
    let inbound = MegolmInboundSession.fromSessionKey(sessionKey);
    let next = 0;

    // SDK level: device → consumer, including the payload prefix and the replay window.
    const identity = generateIdentityKeyPair();
    const consumerKeys = generateConsumerKeyPair();
    const trusted = new Map([['bench-device', identity.publicKey]]);
    const device = await E2EDevice.open({
      deviceId: 'bench-device',
      channelId: 'bench-channel',
      identityKey: identity.privateKey,
      recipients: [consumerKeys.publicKey],
      store: new MemoryStateStore(),
      rotation: { maxMessages: 2 ** 31 },
    });
    const sdkPool: EncryptedTelemetry[] = [];
    for (let i = 0; i < POOL_SIZE; i++) sdkPool.push(await device.encrypt(READING));
    const firstShare = sdkPool[0]!.keyShares[0]!.payload;
    const freshConsumer = (): E2EConsumer => {
      const consumer = new E2EConsumer({ privateKey: consumerKeys.privateKey, trustedDevices: trusted });
      consumer.acceptKeyShare(firstShare);
      return consumer;
    };
    let consumer = freshConsumer();
    let sdkNext = 0;

    const initial = Buffer.alloc(RATCHET_LENGTH, 0x5a);
    const jump = (target: number) => (): void => {
      new MegolmRatchet(Buffer.from(initial), 0).advanceTo(target);
    };
    const step = new MegolmRatchet(Buffer.from(initial), 0);
    // A reader holding the key at index 0 receives a message 2^25 - 1 indices later.
    const farSeed = Buffer.alloc(32, 0x33);
    const farStart = MegolmOutboundSession.fromSecrets({ ratchet: initial, signingSeed: farSeed });
    const farKey = farStart.sessionKey();
    const farRatchet = new MegolmRatchet(Buffer.from(initial), 0);
    farRatchet.advanceTo(2 ** 25 - 1);
    const farMessage = await MegolmOutboundSession.fromSecrets({
      ratchet: farRatchet.data,
      signingSeed: farSeed,
      index: 2 ** 25 - 1,
    }).encrypt(READING);

    const crypto = new Bench({ name: 'megolm: 64-byte reading', time: 2000, warmupTime: 300 });
    crypto
      .add('encrypt (no persistence)', () => plain.encrypt(READING))
      .add('encrypt + MemoryStateStore save', () => memory.encrypt(READING))
      .add('encrypt + FileStateStore save, reserve 1 (fsync each)', () => fileEach.encrypt(READING))
      .add('encrypt + FileStateStore save, reserve 1000', () => fileReserved.encrypt(READING))
      .add('decrypt (in order, signature + MAC)', () => {
        if (next === POOL_SIZE) {
          inbound = MegolmInboundSession.fromSessionKey(sessionKey);
          next = 0;
        }
        inbound.decrypt(pool[next++]!);
      })
      .add('SDK device.encrypt (payload + MemoryStateStore)', () => device.encrypt(READING))
      .add('SDK consumer.decrypt (payload + replay window)', () => {
        if (sdkNext === POOL_SIZE) {
          consumer = freshConsumer();
          sdkNext = 0;
        }
        consumer.decrypt(sdkPool[sdkNext++]!.message.payload);
      });

    const ratchet = new Bench({ name: 'megolm ratchet', time: 1500, warmupTime: 200 });
    ratchet
      .add('advance() one index', () => step.advance())
      .add('advanceTo(2^24) from 0 (4 HMACs)', jump(2 ** 24))
      .add('advanceTo(2^24 - 1) from 0 (765 HMACs, worst case below 2^24)', jump(2 ** 24 - 1))
      .add('advanceTo(2^32 - 1) from 0 (1020 HMACs, worst case)', jump(2 ** 32 - 1))
      .add('import key at 0 + decrypt message at 2^25 - 1', () => {
        MegolmInboundSession.fromSessionKey(farKey).decrypt(farMessage);
      });

    for (const bench of [crypto, ratchet]) {
      await bench.run();
      console.log(`\n${bench.name}`);
      console.table(bench.table());
    }
    report(crypto.tasks, ratchet.tasks, memoryStore.saves);
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

function meanOf(task: Task): number | undefined {
  const result = task.result;
  return 'latency' in result ? result.latency.mean : undefined;
}

function report(crypto: readonly Task[], ratchet: readonly Task[], memorySaves: number): void {
  console.log('\nsummary (mean latency → throughput)');
  for (const task of [...crypto, ...ratchet]) {
    const mean = meanOf(task);
    if (mean === undefined) {
      console.log(`  ${task.name}: ${task.result.state}`);
      continue;
    }
    console.log(
      `  ${task.name}: ${(mean * 1000).toFixed(1)} µs → ${Math.round(1000 / mean).toLocaleString('en')} ops/s`,
    );
  }
  const single = ratchet.find((task) => task.name.startsWith('advance()'));
  const singleMean = single === undefined ? undefined : meanOf(single);
  if (singleMean !== undefined) {
    const linearSeconds = (singleMean * 2 ** 24) / 1000;
    console.log(`  (a linear walk of 2^24 single steps would take ≈ ${linearSeconds.toFixed(1)} s)`);
  }
  console.log(`  MemoryStateStore saves during the run: ${memorySaves.toLocaleString('en')}`);
}

await main();
