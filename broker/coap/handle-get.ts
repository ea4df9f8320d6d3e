/**
 * GET /channels/<id>/messages[/<subtopic>...] (subtopic may hold `+` and `#`), authorized as a
 * subscription to that filter:
 * - Observe 0 registers an observer (2.05 with Observe; retained messages follow as notifications);
 * - Observe 1 deregisters, then answers like a plain GET;
 * - a plain GET answers the retained message of that exact topic, or an empty 2.05;
 * - Block2 NUM > 0 reads the rest of a large notification or response (RFC 7959 §2.4).
 */
import { type BlockValue, blockSizeOf, decodeBlock, encodeBlock } from './block-option.js';
import { nextEtag, type Representation, sliceBlock } from './block2.js';
import type { OutgoingOption } from './codec.js';
import { Code, OptionNumber } from './codes.js';
import { contentFormatOf } from './content-format.js';
import type { CoapContext } from './context.js';
import type { Exchange } from './message-layer.js';
import { bodyKey } from './observe.js';
import { authorizeRequest, refuse } from './request-auth.js';

const EMPTY: Buffer = Buffer.alloc(0);

export function handleGet(ctx: CoapContext, exchange: Exchange, topic: string, wildcard: boolean): void {
  const request = exchange.request;
  const observe = request.uintOption(OptionNumber.Observe, 3);
  let block: BlockValue | null = null;
  const block2 = request.option(OptionNumber.Block2);
  if (block2 !== undefined) {
    block = decodeBlock(block2);
    if (block === null) {
      refuse(exchange, Code.BadRequest, 'invalid Block2');
      return;
    }
  }
  // Early negotiation (RFC 7959 §2.4): the client may ask for smaller blocks than ours, never larger.
  const szx = Math.min(block?.szx ?? ctx.blockSzx, ctx.blockSzx);
  const num = block?.num ?? 0;
  authorizeRequest(ctx, exchange, 'subscribe', topic, (credential) => {
    if (observe === 0 && num === 0) {
      const registered = ctx.observers.register(
        exchange.peer,
        request.token,
        topic,
        szx,
        credential.client,
        credential.validUntil,
      );
      if (registered !== null) {
        const { observer, retained } = registered;
        exchange.respond({
          code: Code.Content,
          options: [{ number: OptionNumber.Observe, value: observer.nextSequence() }],
        });
        for (const message of retained) observer.deliver(message, 0, true, undefined);
        return;
      }
    } else if (observe === 1) {
      ctx.observers.deregister(exchange.peer, request.token, topic);
    }
    read(ctx, exchange, topic, wildcard, num, szx, block !== null);
  });
}

/** Answers the representation of `topic` (or block `num` of it). */
function read(
  ctx: CoapContext,
  exchange: Exchange,
  topic: string,
  wildcard: boolean,
  num: number,
  szx: number,
  blockRequested: boolean,
): void {
  const now = Date.now();
  const key = bodyKey(exchange.peer, topic);
  let representation = num > 0 ? ctx.bodies.get(key, now) : undefined;
  representation ??= current(ctx, topic, wildcard, now);
  const block = sliceBlock(representation.payload, num, szx);
  if (block === null) {
    refuse(exchange, Code.BadOption, 'Block2 number past the end');
    return;
  }
  const blockwise = blockRequested || representation.payload.length > blockSizeOf(szx);
  const options: OutgoingOption[] = [];
  if (blockwise) options.push({ number: OptionNumber.ETag, value: representation.etag });
  if (representation.contentFormat !== undefined) {
    options.push({ number: OptionNumber.ContentFormat, value: representation.contentFormat });
  }
  if (blockwise) {
    options.push({ number: OptionNumber.Block2, value: encodeBlock(num, block.more, szx) });
    if (num === 0) options.push({ number: OptionNumber.Size2, value: representation.payload.length });
  }
  if (num === 0 && block.more) ctx.bodies.set(key, representation, now);
  exchange.respond({ code: Code.Content, options, payload: block.chunk });
}

/** The retained message of an exact topic, or an empty representation. */
function current(ctx: CoapContext, topic: string, wildcard: boolean, now: number): Representation {
  const message = wildcard ? undefined : ctx.core.retained.get(topic);
  if (message === undefined || (message.expiresAt !== undefined && message.expiresAt <= now)) {
    return { payload: EMPTY, contentFormat: undefined, etag: nextEtag() };
  }
  return {
    payload: message.payload,
    contentFormat: contentFormatOf(message.properties?.contentType),
    etag: nextEtag(),
  };
}
