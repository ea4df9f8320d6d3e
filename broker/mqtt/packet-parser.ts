/**
 * mqtt-packet parsing for every packet but the PUBLISH fast path, shared by all connections.
 *
 * A parser per connection costs an EventEmitter, a BufferList and a Packet per client (kilobytes
 * for an idle connection). Our framing hands over whole packets and parsing is synchronous, so one
 * parser per protocol version serves every connection: the parser is told the version before each
 * packet and is empty again afterwards.
 */
import mqttPacket from 'mqtt-packet';

export type ParseResult = { packet: mqttPacket.Packet; error: null } | { packet: null; error: string };

class SharedParser {
  private parser = this.create();
  private packet: mqttPacket.Packet | null = null;
  private error: Error | null = null;

  constructor(private readonly settings: { protocolVersion?: number }) {}

  parse(bytes: Buffer): ParseResult {
    this.packet = null;
    this.error = null;
    // CONNECT replaces the parser's settings with the packet; put ours back every time.
    (this.parser as unknown as { settings: object }).settings = this.settings;
    const left = this.parser.parse(bytes);
    const packet = this.packet as mqttPacket.Packet | null;
    const error = this.error as Error | null;
    if (error !== null || packet === null || left !== 0) {
      // Whatever state the failure left behind must not leak into the next connection's packet.
      this.parser = this.create();
      return { packet: null, error: error?.message ?? 'incomplete packet' };
    }
    return { packet, error: null };
  }

  private create(): mqttPacket.Parser {
    const parser = mqttPacket.parser();
    parser.on('packet', (p: mqttPacket.Packet) => {
      this.packet = p;
    });
    parser.on('error', (e: Error) => {
      this.error = e;
    });
    return parser;
  }
}

const parsers = {
  3: new SharedParser({ protocolVersion: 3 }),
  4: new SharedParser({ protocolVersion: 4 }),
  5: new SharedParser({ protocolVersion: 5 }),
};

/** Parses one whole packet of a connection speaking `version` (CONNECT parses with any). */
export function parsePacket(bytes: Buffer, version: number): ParseResult {
  return (version === 5 ? parsers[5] : version === 3 ? parsers[3] : parsers[4]).parse(bytes);
}
