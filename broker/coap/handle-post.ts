/**
 * POST /channels/<id>/messages[/<subtopic>...]: publish. Content-Format 110, 112 or 42 (absent means
 * 42); the payload is copied into the message. Block1 uploads are reassembled first (2.31 per block);
 * every block is authorized, so an unauthorized client cannot make the server buffer anything.
 */
import { Message, type MessageProperties } from '../core/message.js';
import { type BlockValue, decodeBlock, encodeBlock } from './block-option.js';
import { Code, OptionNumber } from './codes.js';
import { ContentFormat, mediaTypeOf, PUBLISHABLE_FORMATS } from './content-format.js';
import type { CoapContext } from './context.js';
import type { Credential } from './credentials.js';
import type { Exchange } from './message-layer.js';
import { authorizeRequest, refuse } from './request-auth.js';

/** One frozen properties object per format: messages share it instead of allocating their own. */
const PROPERTIES_BY_FORMAT: ReadonlyMap<number, MessageProperties> = new Map(
  [...PUBLISHABLE_FORMATS].map((format) => [
    format,
    Object.freeze({ contentType: mediaTypeOf(format)! }) as MessageProperties,
  ]),
);

export function handlePost(ctx: CoapContext, exchange: Exchange, topic: string): void {
  const request = exchange.request;
  const format = request.uintOption(OptionNumber.ContentFormat, 2) ?? ContentFormat.OctetStream;
  if (!PUBLISHABLE_FORMATS.has(format)) {
    refuse(exchange, Code.UnsupportedContentFormat, 'Content-Format must be 110, 112 or 42');
    return;
  }
  let block: BlockValue | null = null;
  const block1 = request.option(OptionNumber.Block1);
  if (block1 !== undefined) {
    block = decodeBlock(block1);
    if (block === null) {
      refuse(exchange, Code.BadRequest, 'invalid Block1');
      return;
    }
  }
  const max = ctx.settings.maxPayloadBytes;
  const announced = request.uintOption(OptionNumber.Size1);
  if ((announced !== undefined && announced > max) || (block === null && request.payload.length > max)) {
    tooLarge(exchange, max);
    return;
  }
  authorizeRequest(ctx, exchange, 'publish', topic, (credential) => {
    if (block === null) publish(ctx, exchange, topic, Buffer.from(request.payload), format, credential, null);
    else receiveBlock(ctx, exchange, topic, block, format, credential);
  });
}

function receiveBlock(
  ctx: CoapContext,
  exchange: Exchange,
  topic: string,
  block: BlockValue,
  format: number,
  credential: Credential,
): void {
  const request = exchange.request;
  const tag = request.option(OptionNumber.RequestTag);
  const key = `${exchange.peer.key} ${topic} ${tag === undefined ? '' : tag.toString('hex')}`;
  const outcome = ctx.uploads.add(key, block, request.payload, format, Date.now());
  switch (outcome.status) {
    case 'continue':
      exchange.respond({
        code: Code.Continue,
        options: [{ number: OptionNumber.Block1, value: encodeBlock(outcome.num, true, outcome.szx) }],
      });
      return;
    case 'complete':
      publish(ctx, exchange, topic, outcome.payload, outcome.contentFormat, credential, {
        number: OptionNumber.Block1,
        value: encodeBlock(outcome.num, false, outcome.szx),
      });
      return;
    case 'incomplete':
      refuse(exchange, Code.RequestEntityIncomplete, 'block out of order or transfer unknown');
      return;
    case 'too-large':
      tooLarge(exchange, ctx.settings.maxPayloadBytes);
      return;
    case 'bad-block':
      refuse(exchange, Code.BadRequest, 'block size does not match SZX');
      return;
    case 'busy':
      exchange.respond({
        code: Code.ServiceUnavailable,
        options: [
          { number: OptionNumber.MaxAge, value: Math.ceil(ctx.settings.blockTransferTimeoutMs / 1000) },
        ],
        payload: Buffer.from('too many block-wise transfers'),
      });
      return;
  }
}

function publish(
  ctx: CoapContext,
  exchange: Exchange,
  topic: string,
  payload: Buffer,
  format: number,
  credential: Credential,
  block1: { number: number; value: number } | null,
): void {
  const properties = PROPERTIES_BY_FORMAT.get(format);
  // Strict channels (the platform's payload validator): refused as 4.00, as DESIGN.md says.
  const problem = ctx.core.checkPayload(topic, properties?.contentType, payload);
  if (problem !== null) {
    refuse(exchange, Code.BadRequest, problem);
    return;
  }
  const message = new Message(topic, payload, 0, false, credential.client.id, properties);
  ctx.core.publish(message, credential.client);
  ctx.counters.published++;
  exchange.respond(block1 === null ? CHANGED : { code: Code.Changed, options: [block1] });
}

const CHANGED = Object.freeze({ code: Code.Changed });

/** 4.13 with Size1 saying how much we accept (RFC 7959 §4). */
function tooLarge(exchange: Exchange, max: number): void {
  exchange.respond({
    code: Code.RequestEntityTooLarge,
    options: [{ number: OptionNumber.Size1, value: max }],
    payload: Buffer.from(`payload larger than ${max} bytes`),
  });
}
