/**
 * Device provisioning over CoAP, for the broker's generic extra-route hook (`CoapOptions.routes` or
 * `coapFrontEnd.route()`):
 *
 *   POST /provision/devices/<serial>?key=<id half>          → 2.04 with the envelope
 *   POST /provision/devices/<serial>/secret?auth=<secret>   → 2.04 with the envelope (re-provisioning)
 *
 * The payload is the binary envelope (Content-Format 42); its plaintext names the thing and channel.
 * Refusals carry the HTTP status as CoAP code (401 → 4.01, 403 → 4.03, …) and a diagnostic text.
 */
import type { CoapRoute, CoapRouteResponse } from '../../broker/coap/extra-routes.js';
import { coapCode } from '../../broker/coap/extra-routes.js';
import { ProvisioningError, type ProvisioningService } from '../services/provisioning.js';

const OCTET_STREAM = 42;

function refusal(err: unknown): CoapRouteResponse {
  if (err instanceof ProvisioningError) {
    return {
      code: coapCode(Math.floor(err.status / 100), err.status % 100),
      payload: Buffer.from(err.message),
    };
  }
  throw err;
}

export function provisioningCoapRoutes(s: ProvisioningService): CoapRoute[] {
  return [
    {
      pathPrefix: ['provision', 'devices'],
      async handler(request) {
        const [serial, action, ...rest] = request.path;
        if (serial === undefined || rest.length > 0 || (action !== undefined && action !== 'secret')) {
          return { code: coapCode(4, 4), payload: Buffer.from('try /provision/devices/<serial>[/secret]') };
        }
        try {
          const via = 'coap' as const;
          const reply =
            action === undefined
              ? await s.register({
                  serial,
                  idHalf: request.query.get('key') ?? undefined,
                  remoteAddress: request.remoteAddress,
                  via,
                })
              : await s.reprovision({
                  serial,
                  secret: request.query.get('auth') ?? undefined,
                  remoteAddress: request.remoteAddress,
                  via,
                });
          return { code: coapCode(2, 4), payload: reply.envelope, contentFormat: OCTET_STREAM };
        } catch (err) {
          return refusal(err);
        }
      },
    },
  ];
}
