/** What the request handlers share: the broker core, the protocol machinery and the stores. */
import type { BrokerCore } from '../core/broker-core.js';
import type { Logger } from '../core/logger.js';
import type { Block1Reassembly } from './block1-reassembly.js';
import type { Block2Bodies } from './block2.js';
import type { CredentialCache } from './credentials.js';
import type { MessageLayer } from './message-layer.js';
import type { ObserverRegistry } from './observe.js';
import type { CoapSettings } from './settings.js';
import type { CoapCounters } from './stats.js';

export interface CoapContext {
  readonly core: BrokerCore;
  readonly settings: CoapSettings;
  /** SZX of `settings.blockSize`: the largest block we send or ask for. */
  readonly blockSzx: number;
  readonly counters: CoapCounters;
  readonly layer: MessageLayer;
  readonly credentials: CredentialCache;
  readonly observers: ObserverRegistry;
  readonly uploads: Block1Reassembly;
  readonly bodies: Block2Bodies;
  readonly logger: Logger;
}
