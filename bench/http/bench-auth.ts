/** The Authorizer both benchmark servers use: one thing secret, allowed on channel "bench" only. */
import type { Authorizer } from '../../broker/index.js';

export const BENCH_SECRET = 'bench-secret';

export const benchAuthorizer: Authorizer = {
  authenticate: (req) =>
    req.password?.toString() === BENCH_SECRET
      ? { ok: true, principal: { channel: 'bench' } }
      : { ok: false, reason: 'bad-credentials' },
  authorizePublish: (_client, topic) => topic.startsWith('channels/bench/'),
  authorizeSubscribe: (_client, filter) => filter.startsWith('channels/bench/'),
};
