/**
 * The JSON envelope of a message for text-only consumers (SSE `data:` lines, WebSockets opened
 * with `?format=envelope`): binary-safe because the payload travels as base64.
 *
 *   {"topic":"channels/c1/messages/t","contentType":"application/senml+json","payload":"<base64>",
 *    "created":1700000000000,"retained":true}
 *
 * `contentType` is present when the publisher gave one; `retained` only on retained messages replayed
 * at subscription time. A fan-out delivers one message to many streams in a row, so the last
 * encoding is kept and reused (a one-entry cache keyed by the Message object).
 */
import type { Message } from '../core/message.js';

let lastMessage: Message | null = null;
let lastRetained = false;
let lastJson = '';

export function envelopeJson(message: Message, retained: boolean): string {
  if (message === lastMessage && retained === lastRetained) return lastJson;
  const contentType = message.properties?.contentType;
  let json = `{"topic":${JSON.stringify(message.topic)}`;
  if (contentType !== undefined) json += `,"contentType":${JSON.stringify(contentType)}`;
  json += `,"payload":"${message.payload.toString('base64')}","created":${message.created}`;
  if (retained) json += ',"retained":true';
  json += '}';
  lastMessage = message;
  lastRetained = retained;
  lastJson = json;
  return json;
}
