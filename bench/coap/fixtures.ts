/** The request every CoAP benchmark sends: a SenML JSON publish, 120 bytes on the wire. */
import { generate } from 'coap-packet';

export const PATH = ['channels', 'bench', 'messages', 'temp'];
export const QUERY = 'auth=secret';
export const PAYLOAD = Buffer.from('[{"bn":"urn:dev:ow:10e2073a0108006:","n":"temp","u":"Cel","v":23.1}]');
export const SENML_JSON = 110;

/** A POST datagram; message id and token are patched per send by the load generator. */
export function publishDatagram(confirmable: boolean): Buffer {
  return generate({
    code: 'POST',
    confirmable,
    messageId: 0,
    token: Buffer.alloc(4),
    options: [
      ...PATH.map((p) => ({ name: 'Uri-Path' as const, value: Buffer.from(p) })),
      { name: 'Content-Format', value: Buffer.from([SENML_JSON]) },
      { name: 'Uri-Query', value: Buffer.from(QUERY) },
    ],
    payload: PAYLOAD,
  });
}
