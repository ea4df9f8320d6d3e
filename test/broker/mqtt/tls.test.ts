/** MQTT over TLS, with and without client certificates (mTLS). */
import { connect as tlsConnect } from 'node:tls';
import type { MqttClient } from 'mqtt';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type Broker, type ConnectRequest, createBroker } from '../../../broker/index.js';
import { closeClient, collect, connectClient, run, until } from '../../helpers.js';
import { makeTestPki, type TestPki } from '../../tls-certs.js';

let pki: TestPki;
let broker: Broker;
const clients: MqttClient[] = [];
beforeAll(() => {
  pki = makeTestPki('device-42');
});
afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => closeClient(c, true)));
  await broker.close();
});

async function start(mtls: boolean, seen: ConnectRequest[] = []) {
  broker = createBroker({
    mqtt: { port: 0 },
    mqtts: {
      port: 0,
      key: pki.serverKey,
      cert: pki.serverCert,
      ...(mtls && { ca: pki.ca, requestCert: true, rejectUnauthorized: true }),
    },
    authorizer: {
      authenticate: (req) => {
        seen.push(req);
        // With mTLS the certificate is the identity: its CN must be the client id.
        if (mtls)
          return req.certificate?.subjectCN === req.clientId
            ? { ok: true }
            : { ok: false, reason: 'not-authorized' };
        return { ok: true };
      },
      authorizePublish: () => true,
      authorizeSubscribe: () => true,
    },
  });
  const addresses = await broker.listen();
  return addresses.mqtts!.port;
}

describe('MQTT over TLS', () => {
  it('serves mqtt.js and mosquitto_pub --cafile', async () => {
    const port = await start(false);
    const sub = await connectClient(`mqtts://localhost:${port}`, { ca: pki.ca });
    clients.push(sub);
    await sub.subscribeAsync('secure/#', { qos: 1 });
    const r = await run('mosquitto_pub', [
      '-h',
      'localhost',
      '-p',
      String(port),
      '--cafile',
      pki.caFile,
      '-t',
      'secure/a',
      '-m',
      'over tls',
      '-q',
      '1',
    ]);
    expect(r.code).toBe(0);
    await until(() => collect(sub).length === 1);
    expect(collect(sub)[0]!.payload.toString()).toBe('over tls');
  });

  it('a failed handshake affects only that socket', async () => {
    const port = await start(false);
    await new Promise<void>((resolve) => {
      const s = tlsConnect({ port, host: '127.0.0.1', rejectUnauthorized: true }); // does not trust our CA
      s.on('error', () => resolve());
    });
    await until(() => broker.stats().tlsErrors === 1);
    const ok = await connectClient(`mqtts://localhost:${port}`, { ca: pki.ca });
    clients.push(ok);
    expect(ok.connected).toBe(true);
  });

  it('mTLS: the client certificate reaches the Authorizer and identifies the client', async () => {
    const seen: ConnectRequest[] = [];
    const port = await start(true, seen);
    const good = await connectClient(`mqtts://localhost:${port}`, {
      ca: pki.ca,
      key: pki.clientKey,
      cert: pki.clientCert,
      clientId: 'device-42',
    });
    clients.push(good);
    expect(seen[0]!.certificate?.subjectCN).toBe('device-42');
    expect(seen[0]!.certificate?.fingerprint256).toMatch(/^[0-9A-F:]+$/);

    await expect(
      connectClient(`mqtts://localhost:${port}`, {
        ca: pki.ca,
        key: pki.clientKey,
        cert: pki.clientCert,
        clientId: 'someone-else',
      }),
    ).rejects.toThrow(/Not authorized|Connection refused/);

    // No certificate at all: the handshake is refused.
    await expect(
      connectClient(`mqtts://localhost:${port}`, { ca: pki.ca, clientId: 'device-42' }),
    ).rejects.toThrow();
    const r = await run('mosquitto_pub', [
      ...['-h', 'localhost', '-p', String(port), '--cafile', pki.caFile],
      ...['--cert', pki.clientCertFile, '--key', pki.clientKeyFile, '-i', 'device-42', '-t', 'm', '-m', 'x'],
    ]);
    expect(r.code).toBe(0);
  });
});
