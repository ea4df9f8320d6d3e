/**
 * Strict SenML channels: the broker's payload validator for the platform. It knows which channels
 * are strict (loaded from the store, kept current by the change feed, reloaded every
 * `reloadMs` for changes made on other nodes) and hands their payloads to a SenML checker; every
 * other topic passes untouched with one Set lookup. The checker is injected (codecs' `checkStrict`)
 * so that management does not depend on the codecs.
 */
import type { ChangeFeed } from '../auth/change-feed.js';
import { channelOfTopic } from '../auth/channel-topics.js';
import type { SqlStore } from '../storage/sql/store.js';

/** Null when the payload is valid, else why not. Must not throw. */
export type SenmlCheck = (contentType: string, payload: Buffer) => string | null;

export interface StrictChannelsOptions {
  /** Content type assumed when the protocol carries none (MQTT 3.1.1). Default SenML JSON. */
  defaultContentType?: string;
  /** Full reload interval, ms (0: only the change feed). Default 60 s. */
  reloadMs?: number;
}

export class StrictChannels {
  private strict = new Set<string>();
  private readonly timer: NodeJS.Timeout | null;
  private readonly unsubscribe: () => void;
  private readonly defaultContentType: string;

  private constructor(
    private readonly store: SqlStore,
    changes: ChangeFeed,
    private readonly check: SenmlCheck,
    options: StrictChannelsOptions,
  ) {
    this.defaultContentType = options.defaultContentType ?? 'application/senml+json';
    this.unsubscribe = changes.subscribe((change) => {
      if (change.type === 'channel.changed') {
        if (change.strictSenml) this.strict.add(change.channelId);
        else this.strict.delete(change.channelId);
      } else if (change.type === 'channel.deleted') {
        this.strict.delete(change.channelId);
      }
    });
    const reloadMs = options.reloadMs ?? 60_000;
    this.timer = reloadMs > 0 ? setInterval(() => void this.reload().catch(() => {}), reloadMs) : null;
    this.timer?.unref();
  }

  static async load(
    store: SqlStore,
    changes: ChangeFeed,
    check: SenmlCheck,
    options: StrictChannelsOptions = {},
  ) {
    const validator = new StrictChannels(store, changes, check, options);
    await validator.reload();
    return validator;
  }

  async reload(): Promise<void> {
    this.strict = new Set(await this.store.channels.strictIds());
  }

  isStrict(channelId: string): boolean {
    return this.strict.has(channelId);
  }

  /** The broker's PayloadValidator. */
  validate(topic: string, contentType: string | undefined, payload: Buffer): string | null {
    if (this.strict.size === 0) return null;
    const channelId = channelOfTopic(topic);
    if (channelId === null || !this.strict.has(channelId)) return null;
    return this.check(contentType ?? this.defaultContentType, payload);
  }

  close(): void {
    this.unsubscribe();
    if (this.timer !== null) clearInterval(this.timer);
  }
}
