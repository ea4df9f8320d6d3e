/** Media types of the platform and their CoAP Content-Format numbers (RFC 8428 §12.3, RFC 7252 §12.3). */

export const SENML_JSON = 'application/senml+json';
export const SENSML_JSON = 'application/sensml+json';
export const SENML_CBOR = 'application/senml+cbor';
export const SENSML_CBOR = 'application/sensml+cbor';
export const SENML_EXI = 'application/senml-exi';
export const SENSML_EXI = 'application/sensml-exi';
export const SENML_XML = 'application/senml+xml';
export const SENSML_XML = 'application/sensml+xml';
export const OCTET_STREAM = 'application/octet-stream';

/**
 * How the codec treats a content type:
 * - `senml-json` / `senml-cbor`: parsed, validated and resolved (SenML packs and SensML streams);
 * - `senml-unsupported`: a SenML media type this codec cannot parse (EXI, XML): strict mode rejects it, the storage
 *   path keeps it as a whole message;
 * - `binary`: anything else (octet-stream, E2E ciphertext, text...): opaque bytes, stored as a whole message.
 */
export type ContentKind = 'senml-json' | 'senml-cbor' | 'senml-unsupported' | 'binary';

export interface ContentClass {
  kind: ContentKind;
  /** True for the SensML (stream) variants. */
  stream: boolean;
}

const JSON_PACK: ContentClass = { kind: 'senml-json', stream: false };
const JSON_STREAM: ContentClass = { kind: 'senml-json', stream: true };
const CBOR_PACK: ContentClass = { kind: 'senml-cbor', stream: false };
const CBOR_STREAM: ContentClass = { kind: 'senml-cbor', stream: true };
const UNSUPPORTED_PACK: ContentClass = { kind: 'senml-unsupported', stream: false };
const UNSUPPORTED_STREAM: ContentClass = { kind: 'senml-unsupported', stream: true };
const BINARY: ContentClass = { kind: 'binary', stream: false };

function classifyExact(type: string): ContentClass | undefined {
  switch (type) {
    case SENML_JSON:
      return JSON_PACK;
    case SENSML_JSON:
      return JSON_STREAM;
    case SENML_CBOR:
      return CBOR_PACK;
    case SENSML_CBOR:
      return CBOR_STREAM;
    case SENML_EXI:
    case SENML_XML:
      return UNSUPPORTED_PACK;
    case SENSML_EXI:
    case SENSML_XML:
      return UNSUPPORTED_STREAM;
    case OCTET_STREAM:
      return BINARY;
    default:
      return undefined;
  }
}

/**
 * Classifies a media type. Matching is case-insensitive and ignores parameters (`; charset=utf-8`) and surrounding
 * white space, as media types are (RFC 9110 §8.3.1). The exact lower-case spellings take a fast path.
 */
export function classifyContentType(contentType: string): ContentClass {
  const exact = classifyExact(contentType);
  if (exact !== undefined) return exact;
  return classifyExact(normalizeContentType(contentType)) ?? BINARY;
}

/** Lower-cases a media type and strips its parameters: `Application/SenML+JSON; charset=utf-8` → `application/senml+json`. */
export function normalizeContentType(contentType: string): string {
  const semicolon = contentType.indexOf(';');
  const base = semicolon === -1 ? contentType : contentType.slice(0, semicolon);
  return base.trim().toLowerCase();
}

/** True when the codec parses this content type as SenML (JSON or CBOR, pack or stream). */
export function isSenMLContentType(contentType: string): boolean {
  const kind = classifyContentType(contentType).kind;
  return kind === 'senml-json' || kind === 'senml-cbor';
}

const COAP_TO_TYPE: ReadonlyMap<number, string> = new Map([
  [42, OCTET_STREAM],
  [110, SENML_JSON],
  [111, SENSML_JSON],
  [112, SENML_CBOR],
  [113, SENSML_CBOR],
  [114, SENML_EXI],
  [115, SENSML_EXI],
  [310, SENML_XML],
  [311, SENSML_XML],
]);
const TYPE_TO_COAP: ReadonlyMap<string, number> = new Map([...COAP_TO_TYPE].map(([k, v]) => [v, k]));

/** CoAP Content-Format number → media type (`undefined` for formats the platform does not name). */
export function contentTypeFromCoAP(format: number): string | undefined {
  return COAP_TO_TYPE.get(format);
}

/** Media type → CoAP Content-Format number (`undefined` when it has none we know). */
export function coapContentFormat(contentType: string): number | undefined {
  return TYPE_TO_COAP.get(contentType) ?? TYPE_TO_COAP.get(normalizeContentType(contentType));
}
