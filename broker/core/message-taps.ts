/**
 * Message taps: consumers that see every routed message, in batches (the storage path is one).
 *
 * Why not the 'message' event: an emit per message costs the publish path a rest-argument array, an apply and a
 * call that V8 does not inline (with the storage tap as the listener, one profiled run of bench/storage/tap.ts's
 * load showed ~60 ns per message in listenerCount, emit and the listener's entry). Calling one listener directly
 * instead is worse: V8 inlines it into the publish path, where it spends the inlining budget the parser and the
 * router need (the I/O thread's busy time per message rose 28 % in one profiled run, against 11 % with emit).
 * A tap costs `publish` two array stores; the messages are handed over once per I/O callback, from a microtask
 * queued by the first message, in one tight loop per tap (with `--pin split`, 6 run pairs: I/O thread CPU per
 * message +8 %, delivered on/off 0.96 median).
 *
 * Contract for a tap:
 * - it is called with every message routed since its previous call, in routing order, with the publisher of each
 *   (undefined for the broker's own messages), before the event loop moves on to the next I/O callback;
 * - the arrays are lent for the call: entries from `count` on are stale, and the arrays are reused afterwards;
 * - payloads are as routed: views that stay valid while referenced (front-ends never reuse a buffer they routed);
 * - an exception is logged and does not stop the other taps or the next batch.
 */
import type { ClientInfo } from './authorizer.js';
import type { Logger } from './logger.js';
import type { Message } from './message.js';

export type MessageTap = (
  messages: readonly Message[],
  publishers: readonly (ClientInfo | undefined)[],
  count: number,
) => void;

export class MessageTaps {
  readonly #logger: Logger;
  /** Replaced, never changed in place: a flush iterating it is not disturbed by a tap added or removed meanwhile. */
  #taps: readonly MessageTap[] = [];
  #messages: (Message | undefined)[] = [];
  #publishers: (ClientInfo | undefined)[] = [];
  #count = 0;

  constructor(logger: Logger) {
    this.#logger = logger;
  }

  add(tap: MessageTap): void {
    if (!this.#taps.includes(tap)) this.#taps = [...this.#taps, tap];
  }

  /** Removes a tap; messages collected but not yet handed over are not given to it. */
  remove(tap: MessageTap): void {
    this.#taps = this.#taps.filter((t) => t !== tap);
  }

  /** Some tap is added: `publish` collects messages. */
  get active(): boolean {
    return this.#taps.length > 0;
  }

  /** Collects one routed message for the taps (call only while `active`). */
  collect(message: Message, publisher: ClientInfo | undefined): void {
    const i = this.#count++;
    this.#messages[i] = message;
    this.#publishers[i] = publisher;
    if (i === 0) queueMicrotask(this.#flush);
  }

  /** Messages collected and not yet handed over. */
  get pending(): number {
    return this.#count;
  }

  readonly #flush = (): void => {
    const count = this.#count;
    const messages = this.#messages;
    const publishers = this.#publishers;
    // A tap that publishes starts the next batch in fresh arrays: this one is still being handed over.
    this.#messages = [];
    this.#publishers = [];
    this.#count = 0;
    for (const tap of this.#taps) {
      try {
        // Entries below `count` are all set (collect fills them in order).
        tap(messages as readonly Message[], publishers, count);
      } catch (err) {
        this.#logger.error({ err }, 'message tap failed');
      }
    }
    if (this.#count === 0) {
      // Nothing new arrived meanwhile: keep the arrays for the next batch, without pinning the payloads.
      messages.fill(undefined, 0, count);
      publishers.fill(undefined, 0, count);
      this.#messages = messages;
      this.#publishers = publishers;
    }
  };
}
