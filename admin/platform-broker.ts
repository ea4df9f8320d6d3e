/**
 * A broker with the platform plugged in: the platform authorizer, strict SenML channels, live
 * invalidation and the REST API on the broker's HTTP front-end (when `http` is configured). What
 * `omap serve` runs with `--auth platform`.
 */
import { type Broker, type BrokerOptions, createBroker } from '../broker/index.js';
import { createPlatform, type Platform, type PlatformOptions } from './platform.js';

export interface PlatformBroker {
  readonly broker: Broker;
  readonly platform: Platform;
  /** Closes the broker (gracefully) and then the platform's store. */
  close(): Promise<void>;
}

export async function createPlatformBroker(
  brokerOptions: Omit<BrokerOptions, 'authorizer' | 'payloadValidator'>,
  platformOptions: PlatformOptions,
): Promise<PlatformBroker> {
  const platform = await createPlatform(platformOptions);
  let broker: Broker;
  try {
    broker = createBroker({
      ...brokerOptions,
      authorizer: platform.authorizer,
      ...(platform.payloadValidator !== null && { payloadValidator: platform.payloadValidator }),
    });
  } catch (err) {
    await platform.close();
    throw err;
  }
  platform.attachBroker(broker);
  if (broker.http !== null) platform.mount(broker.http);
  let closing: Promise<void> | null = null;
  return {
    broker,
    platform,
    close() {
      closing ??= (async () => {
        await broker.close();
        await platform.close();
      })();
      return closing;
    },
  };
}
