// Message taps: every routed message, handed over in batches once per I/O callback (broker/core/message-taps.ts).
import { describe, expect, it } from 'vitest';
import type { ClientInfo } from '../../../broker/core/authorizer.js';
import { BrokerCore } from '../../../broker/core/broker-core.js';
import type { Logger } from '../../../broker/core/logger.js';
import { Message } from '../../../broker/core/message.js';
import type { MessageTap } from '../../../broker/core/message-taps.js';

const msg = (topic: string) => new Message(topic, Buffer.from(topic), 0, false);

/** A tap that records each call as a list of "topic@publisher". */
function recordingTap(): { tap: MessageTap; calls: string[][] } {
  const calls: string[][] = [];
  const tap: MessageTap = (messages, publishers, count) => {
    const call: string[] = [];
    for (let i = 0; i < count; i++) call.push(`${messages[i]!.topic}@${publishers[i]?.id ?? '-'}`);
    calls.push(call);
  };
  return { tap, calls };
}

/** Resolves after the microtasks queued so far (the taps' hand-over among them) have run. */
const afterMicrotasks = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));

describe('message taps', () => {
  it('hands the messages routed in one callback over in one call, in order, with their publishers', async () => {
    const core = new BrokerCore();
    const { tap, calls } = recordingTap();
    core.taps.add(tap);
    const device = { id: 'dev-1' } as ClientInfo;
    core.publish(msg('a'), device);
    core.publish(msg('b'));
    core.publish(msg('c'), device);
    expect(calls).toEqual([]); // not during publish
    expect(core.taps.pending).toBe(3);
    await afterMicrotasks();
    expect(calls).toEqual([['a@dev-1', 'b@-', 'c@dev-1']]);
    expect(core.taps.pending).toBe(0);
    core.publish(msg('d'));
    await afterMicrotasks();
    expect(calls).toEqual([['a@dev-1', 'b@-', 'c@dev-1'], ['d@-']]);
  });

  it('collects nothing while no tap is added, and stops handing over to a removed tap', async () => {
    const core = new BrokerCore();
    core.publish(msg('before'));
    expect(core.taps.pending).toBe(0);
    const first = recordingTap();
    const second = recordingTap();
    core.taps.add(first.tap);
    core.taps.add(first.tap); // added once only
    core.taps.add(second.tap);
    core.publish(msg('both'));
    core.taps.remove(first.tap); // before the hand-over: it gets nothing more
    await afterMicrotasks();
    core.publish(msg('second-only'));
    await afterMicrotasks();
    core.taps.remove(second.tap);
    core.publish(msg('after'));
    await afterMicrotasks();
    expect(first.calls).toEqual([]);
    expect(second.calls).toEqual([['both@-'], ['second-only@-']]);
    expect(core.taps.active).toBe(false);
  });

  it('logs a failing tap and still serves the others and the next batch', async () => {
    const errors: unknown[] = [];
    const noop = (): void => {};
    const logger: Logger = { debug: noop, info: noop, warn: noop, error: (obj: unknown) => errors.push(obj) };
    const core = new BrokerCore({ logger });
    core.taps.add(() => {
      throw new Error('tap failed');
    });
    const { tap, calls } = recordingTap();
    core.taps.add(tap);
    core.publish(msg('1'));
    await afterMicrotasks();
    core.publish(msg('2'));
    await afterMicrotasks();
    expect(calls).toEqual([['1@-'], ['2@-']]);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ err: { message: 'tap failed' } });
  });

  it('gives a message published by a tap to the next batch, not the one being handed over', async () => {
    const core = new BrokerCore();
    const { tap, calls } = recordingTap();
    core.taps.add(tap);
    let echoed = false;
    core.taps.add((messages) => {
      if (!echoed && messages[0]!.topic === 'in') {
        echoed = true;
        core.publish(msg('echo'));
      }
    });
    core.publish(msg('in'));
    await afterMicrotasks();
    await afterMicrotasks();
    expect(calls).toEqual([['in@-'], ['echo@-']]);
  });

  it('reaches the taps through the Broker too, as does the publish of an application', async () => {
    const { createBroker } = await import('../../../broker/index.js');
    const broker = createBroker({});
    const { tap, calls } = recordingTap();
    const remove = broker.addMessageTap(tap);
    broker.publish({ topic: 'app/status', payload: 'online' });
    await afterMicrotasks();
    remove();
    broker.publish({ topic: 'app/status', payload: 'offline' });
    await afterMicrotasks();
    expect(calls).toEqual([['app/status@-']]);
    await broker.close();
  });
});
