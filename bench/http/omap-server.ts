/**
 * The OMAP side of the HTTP benchmark: a broker with only the HTTP/WebSocket front-end (uWS),
 * the benchmark Authorizer, and a GET /bench/stats route (the route API at work). Prints
 * "PORT <n>" once listening; stops on SIGTERM/SIGINT.
 */
import { createBroker } from '../../broker/index.js';
import { benchAuthorizer } from './bench-auth.js';

const broker = createBroker({
  host: '127.0.0.1',
  mqtt: false,
  http: { port: 0 },
  authorizer: benchAuthorizer,
});
broker.http!.route('get', '/bench/stats', (_req, reply) => {
  reply.json(200, { ...broker.http!.stats, ...broker.http!.connections });
});
const { http } = await broker.listen();
console.log(`PORT ${http!.port}`);
const stop = (): void => {
  void broker.close().then(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
