/** The broker's generic CoAP extra-route hook (`CoapOptions.routes`), without the platform. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CoapRouteRequest, coapCode } from '../../broker/coap/extra-routes.js';
import { type CoapTestBroker, RawCoapClient, startCoapBroker } from '../broker/coap/coap-helpers.js';

let b: CoapTestBroker;
const seen: CoapRouteRequest[] = [];

beforeAll(async () => {
  b = await startCoapBroker({
    coap: {
      routes: [
        {
          pathPrefix: ['echo'],
          async handler(request) {
            seen.push(request);
            return {
              code: coapCode(2, 4),
              payload: Buffer.concat([Buffer.from('echo:'), request.payload]),
              contentFormat: 42,
            };
          },
        },
        {
          pathPrefix: ['broken'],
          handler() {
            throw new Error('boom');
          },
        },
      ],
    },
  });
});

afterAll(async () => {
  await b?.close();
});

async function call(method: 'GET' | 'POST', target: string, payload?: Buffer) {
  const client = await RawCoapClient.open(b.coapPort);
  try {
    const sent = client.request(method, target, payload === undefined ? {} : { payload });
    return await client.response(sent);
  } finally {
    await client.close();
  }
}

describe('CoAP extra routes', () => {
  it('a POST under the prefix reaches the handler with path, query, payload and peer', async () => {
    const r = await call('POST', '/echo/a/b?key=K1&flag', Buffer.from('hi'));
    expect(r.code).toBe('2.04');
    expect(r.payload.toString()).toBe('echo:hi');
    const request = seen.at(-1)!;
    expect(request.path).toEqual(['a', 'b']);
    expect(request.query.get('key')).toBe('K1');
    expect(request.query.get('flag')).toBe('');
    expect(request.remoteAddress).toBe('127.0.0.1');
  });

  it('other methods are 4.05, a throwing handler 5.00, and /channels routing is unchanged', async () => {
    expect((await call('GET', '/echo/x')).code).toBe('4.05');
    expect((await call('POST', '/broken')).code).toBe('5.00');
    expect((await call('POST', '/other/x')).code).toBe('4.04');
  });
});
