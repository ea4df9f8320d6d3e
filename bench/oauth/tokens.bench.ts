/**
 * OAuth token benchmarks (tinybench): verification with the verified-token cache (a hit) and
 * without it (signature + revocation lookup), and client_credentials tokens per second, in process
 * and over HTTP.
 *
 *   npx tsx bench/oauth/tokens.bench.ts
 */
import { jwtVerify } from 'jose';
import { Bench } from 'tinybench';
import { TokenService } from '../../auth/tokens.js';
import { startOAuthPlatform } from '../../test/oauth/helpers.js';

const f = await startOAuthPlatform('oauthbench');
const server = f.t.platform.oauth.server;
const form = new Map([['grant_type', 'client_credentials']]);
const basic = `Basic ${Buffer.from(`svc:${encodeURIComponent('confidential-secret:with/odd+chars')}`).toString('base64')}`;
const { access_token: token } = await server.token(f.tenantId, form, basic);

const tokens = f.t.platform.services.sessions.tokens;
if ((await tokens.verify(token)) === null) throw new Error('token does not verify');
// Same keys and table, but every call misses the cache (cacheTtlMs 0).
const uncached = new TokenService(f.t.platform.store.tokens, (tokens as unknown as { keys: never }).keys, {
  cacheTtlMs: 0,
});
const keys = (tokens as unknown as { keys: { verificationKey: Parameters<typeof jwtVerify>[1] } }).keys;

const tokenUrl = `http://127.0.0.1:${f.t.httpPort}/oauth2/${f.tenantId}/token`;

const bench = new Bench({ time: 1000, warmup: true });
bench
  .add('verify: cache hit (TokenService)', async () => {
    await tokens.verify(token);
  })
  .add('verify: no cache (EdDSA signature + revocation lookup)', async () => {
    await uncached.verify(token);
  })
  .add('verify: jose jwtVerify alone (EdDSA)', async () => {
    await jwtVerify(
      token,
      (h) => (keys as unknown as { verificationKey(h: unknown): never }).verificationKey(h),
      {
        algorithms: ['EdDSA'],
      },
    );
  })
  .add('client_credentials: OAuthServer.token (in process)', async () => {
    await server.token(f.tenantId, form, basic);
  })
  .add('client_credentials: POST /token over HTTP', async () => {
    const r = await fetch(tokenUrl, {
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials',
    });
    if (r.status !== 200) throw new Error(`token: ${r.status}`);
    await r.arrayBuffer();
  });

await bench.run();
console.table(
  bench.tasks.map((t) => {
    const r = t.result as unknown as {
      latency?: { mean: number; p50?: number };
      throughput?: { mean: number };
    };
    return {
      task: t.name,
      'mean µs': r.latency ? (r.latency.mean * 1000).toFixed(3) : '?',
      'p50 µs': r.latency?.p50 !== undefined ? (r.latency.p50 * 1000).toFixed(3) : '?',
      'ops/s': r.throughput ? Math.round(r.throughput.mean) : '?',
    };
  }),
);

// A synchronous view of the hit path (the awaits above dominate a ~0.1 µs lookup).
const n = 1_000_000;
let hits = 0;
const start = process.hrtime.bigint();
for (let i = 0; i < n; i++) {
  const cached = (
    tokens as unknown as { verified: Map<string, { claims: { expiresAt: number }; checkedAt: number }> }
  ).verified.get(token);
  if (cached !== undefined && cached.claims.expiresAt * 1000 > Date.now()) hits++;
}
const ns = Number(process.hrtime.bigint() - start) / n;
console.log(`cache lookup (Map.get + expiry check, synchronous): ${ns.toFixed(1)} ns per hit (${hits} hits)`);

await f.t.close();
