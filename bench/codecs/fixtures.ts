/** Shared fixtures of the codec benchmarks: a typical 10-record SenML pack, as JSON and as CBOR. */
import {
  type Envelope,
  encodeSenMLCbor,
  encodeSenMLJson,
  SENML_CBOR,
  SENML_JSON,
  type SenMLPackRecord,
} from '../../codecs/index.js';

export const RECORDS_PER_PACK = 10;

/** A weather station: base name/time/unit, 10 measurements over 3 names, relative offsets, one unit override. */
export const TYPICAL_PACK: SenMLPackRecord[] = [
  { bn: 'urn:dev:ow:10e2073a01080063:', bt: 1.7e9, bu: 'Cel', n: 'temp', v: 23.1 },
  { n: 'humidity', u: '%RH', v: 41.5 },
  { n: 'pressure', u: 'Pa', v: 101325 },
  { n: 'temp', t: 10, v: 23.2 },
  { n: 'humidity', u: '%RH', t: 10, v: 41.7 },
  { n: 'pressure', u: 'Pa', t: 10, v: 101320 },
  { n: 'temp', t: 20, v: 23.4 },
  { n: 'humidity', u: '%RH', t: 20, v: 42.1 },
  { n: 'pressure', u: 'Pa', t: 20, v: 101318 },
  { n: 'temp', t: 30, v: 23.3 },
];

export const PACK_JSON: Uint8Array = encodeSenMLJson(TYPICAL_PACK);
export const PACK_CBOR: Uint8Array = encodeSenMLCbor(TYPICAL_PACK);

export function envelope(contentType: string, payload: Uint8Array, i = 0): Envelope {
  return {
    channel: '6f0b2d7c-3c1e-4b8e-9a51-5a4f0f1d2e3c',
    subtopic: 'weather',
    publisher: `a1b2c3d4-0000-4000-8000-${String(i % 1000).padStart(12, '0')}`,
    protocol: 'mqtt',
    contentType,
    created: 1_700_000_000_000 + i,
    payload,
  };
}

export function envelopes(format: 'json' | 'cbor', count: number): Envelope[] {
  const type = format === 'json' ? SENML_JSON : SENML_CBOR;
  const payload = format === 'json' ? PACK_JSON : PACK_CBOR;
  return Array.from({ length: count }, (_, i) => envelope(type, payload, i));
}
