/**
 * The baseline of the HTTP benchmark: the same endpoint on node:http, doing the same work as
 * broker/http/http-publish.ts (path and content-type checks, the same cached authentication and
 * publish decision, a copy of the body, the same broker publish, the same 202 JSON answer), so
 * the comparison measures the HTTP server, not different logic. Prints "PORT <n>".
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { authorizePublish, HttpAuthenticator } from '../../broker/http/auth.js';
import { parseChannelPath } from '../../broker/http/channel-path.js';
import { acceptedContentType } from '../../broker/http/content-type.js';
import { createBroker, Message } from '../../broker/index.js';
import { benchAuthorizer } from './bench-auth.js';

const MAX_BODY = 256 * 1024;
const broker = createBroker({ mqtt: false, authorizer: benchAuthorizer });
const core = broker.core;
const auth = new HttpAuthenticator(core, 10_000);

function error(res: import('node:http').ServerResponse, status: number, name: string, message: string): void {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(`{"error":"${name}","message":${JSON.stringify(message)}}`);
}

const server = createServer((req, res) => {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  if (req.method !== 'POST') return error(res, 405, 'method-not-allowed', 'POST only');
  const path = parseChannelPath(q < 0 ? url : url.slice(0, q), false, core.limits);
  if (!path.ok)
    return error(res, path.status, path.status === 404 ? 'not-found' : 'bad-request', path.message);
  const contentType = acceptedContentType(req.headers['content-type'] ?? '');
  if (contentType === null) return error(res, 415, 'unsupported-media-type', 'bad content type');
  const declared = Number(req.headers['content-length'] ?? -1);
  if (declared > MAX_BODY) return error(res, 413, 'payload-too-large', 'too large');
  const outcome = auth.authenticate('http', req.headers.authorization ?? '', () => req.socket.remoteAddress);
  if (outcome instanceof Promise) throw new Error('the benchmark Authorizer is synchronous');
  if (!outcome.ok) return error(res, outcome.status, 'unauthorized', outcome.message);
  const client = outcome.identity.client;
  const allowed = authorizePublish(core, client, outcome.identity.decisions, path.topic);
  if (allowed !== true) return error(res, 403, 'forbidden', 'not allowed');
  const parts: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    parts.push(chunk);
  });
  req.on('end', () => {
    if (size > MAX_BODY) return error(res, 413, 'payload-too-large', 'too large');
    const payload = parts.length === 1 ? parts[0]! : Buffer.concat(parts, size);
    const message = new Message(path.topic, payload, 0, false, client.id, { contentType });
    const deliveries = core.publish(message, client);
    res.writeHead(202, { 'content-type': 'application/json' });
    res.end(`{"accepted":true,"topic":${JSON.stringify(path.topic)},"deliveries":${deliveries}}`);
  });
});
server.keepAliveTimeout = 60_000;
server.listen(0, '127.0.0.1', () => {
  console.log(`PORT ${(server.address() as AddressInfo).port}`);
});
const stop = (): void => {
  server.closeAllConnections();
  server.close(() => process.exit(0));
};
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
