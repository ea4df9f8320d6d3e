/**
 * The history reader API, framework-free: `readMessages(channelId, query)` answers from whichever store is
 * configured, in one JSON shape (documented in README.md, "Reader API"):
 *
 *   { channel, format, order, from, to, aggregation, interval, offset, limit, total, messages: [...] }
 *
 * `messages` holds SenML records, whole messages (format=payload) or aggregation buckets. Authorization is the
 * caller's (the HTTP front-end checks "may subscribe to this channel" before calling).
 */
import {
  type AggregateBucket,
  type Aggregation,
  type HistoryReader,
  type MessageFormat,
  type MessageQuery,
  type PayloadMessage,
  parseMessageQuery,
  QueryError,
  type QueryParams,
  type SenMLMessage,
  usToSeconds,
} from './query.js';

export interface MessagesPage {
  channel: string;
  format: MessageFormat;
  order: 'asc' | 'desc';
  /** The bounds applied, seconds since the epoch (null: unbounded). `from` inclusive, `to` exclusive. */
  from: number | null;
  to: number | null;
  aggregation: Aggregation | null;
  interval: string | null;
  offset: number;
  limit: number;
  /** All matches (records, messages or buckets), ignoring offset and limit. */
  total: number;
  messages: SenMLMessage[] | PayloadMessage[] | AggregateBucket[];
}

export interface MessageReader {
  /**
   * @param query URL query parameters (validated here) or an already validated {@link MessageQuery}.
   * @throws {QueryError} for invalid parameters (answer 400); store errors as they come (answer 503).
   */
  readMessages(channelId: string, query: MessageQuery | QueryParams): Promise<MessagesPage>;
}

function isMessageQuery(query: MessageQuery | QueryParams): query is MessageQuery {
  // URL parameters are strings; a parsed query has numbers.
  return !(query instanceof URLSearchParams) && typeof (query as MessageQuery).limit === 'number';
}

export function checkChannelId(channelId: string): string {
  if (channelId.length === 0 || channelId.length > 256 || /[\u0000-\u001f\u007f]/.test(channelId)) {
    throw new QueryError('invalid channel id');
  }
  return channelId;
}

export async function readMessages(
  history: HistoryReader,
  channelId: string,
  input: MessageQuery | QueryParams,
): Promise<MessagesPage> {
  const channel = checkChannelId(channelId);
  const query = isMessageQuery(input) ? input : parseMessageQuery(input);
  const result =
    query.aggregation !== null
      ? await history.aggregate(channel, query)
      : query.format === 'payload'
        ? await history.readPayloads(channel, query)
        : await history.readSenML(channel, query);
  return {
    channel,
    format: query.format,
    order: query.order,
    from: query.fromUs === null ? null : usToSeconds(query.fromUs),
    to: query.toUs === null ? null : usToSeconds(query.toUs),
    aggregation: query.aggregation?.fn ?? null,
    interval: query.aggregation?.interval ?? null,
    offset: query.offset,
    limit: query.limit,
    total: result.total,
    messages: result.items as MessagesPage['messages'],
  };
}

export function createMessageReader(history: HistoryReader): MessageReader {
  return { readMessages: (channelId, query) => readMessages(history, channelId, query) };
}
