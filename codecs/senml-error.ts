/**
 * The one error type of the SenML codec. Every failure of parsing, validating or resolving a SenML pack is a
 * `SenMLError`; anything else escaping the codec is a bug.
 */

/** Error classes. The first seven match the `expected_error` classes of the shared SenML test vectors. */
export type SenMLErrorCode =
  /** §4.2: more than one of v/vs/vb/vd, or none of them and no sum. */
  | 'values'
  /** §4.5.1: resolved name empty or with a character outside `A-Z a-z 0-9 - : . / _` (first: `A-Z a-z 0-9`). */
  | 'name'
  /** §4.4: a label ending in `_` that this implementation does not understand. */
  | 'must-understand'
  /** §4.4: records of one pack carry different `bver`. */
  | 'version-mismatch'
  /** §4.4 / RFC 9100: `bver` above 10 (a version or feature this implementation does not implement). */
  | 'unsupported-version'
  /** Table 2 / §6: a field of the wrong type (e.g. `v` a string, `bver` not a positive integer, `vd` not base64url). */
  | 'type'
  /** CDDL `SenML-Pack = [1* record]`: the root is not a non-empty array of records. */
  | 'not-a-pack'
  /** Bytes that are not valid JSON / CBOR (or not UTF-8, or CBOR items SenML does not allow, e.g. tags). */
  | 'syntax'
  /** More bytes or records than the configured limits. */
  | 'too-large'
  /** A SenML media type this codec does not parse (EXI, XML). */
  | 'unsupported-content-type'
  /** Only in the storage path's invalid entries: the codec itself failed on this message (a bug; never thrown). */
  | 'internal';

/** Plain, structured-clone-safe form of a {@link SenMLError} (what crosses a thread boundary). */
export interface SenMLErrorData {
  code: SenMLErrorCode;
  message: string;
  /** Index of the offending record in the pack, or -1 when the error concerns the pack as a whole. */
  index: number;
  /** The rule violated, e.g. `'RFC 8428 §4.5.1: name characters'`. */
  rule: string;
  /** The offending label (JSON form, e.g. `'vb'`), when one is to blame. */
  label?: string;
}

const CODES: ReadonlySet<string> = new Set<SenMLErrorCode>([
  'values',
  'name',
  'must-understand',
  'version-mismatch',
  'unsupported-version',
  'type',
  'not-a-pack',
  'syntax',
  'too-large',
  'unsupported-content-type',
  'internal',
]);

export class SenMLError extends Error {
  override readonly name = 'SenMLError';
  readonly code: SenMLErrorCode;
  readonly index: number;
  readonly rule: string;
  readonly label: string | undefined;

  constructor(code: SenMLErrorCode, message: string, index: number, rule: string, label?: string) {
    super(index >= 0 ? `record ${index}: ${message}` : message);
    this.code = code;
    this.index = index;
    this.rule = rule;
    this.label = label;
  }

  toJSON(): SenMLErrorData {
    const data: SenMLErrorData = {
      code: this.code,
      message: this.message,
      index: this.index,
      rule: this.rule,
    };
    if (this.label !== undefined) data.label = this.label;
    return data;
  }

  /** Rebuilds an error from its {@link SenMLErrorData} (keeps the message as it was). */
  static fromJSON(data: SenMLErrorData): SenMLError {
    const code: SenMLErrorCode = CODES.has(data.code) ? data.code : 'syntax';
    const error = new SenMLError(code, '', data.index, data.rule, data.label);
    error.message = data.message;
    return error;
  }
}

export function isSenMLErrorCode(value: string): value is SenMLErrorCode {
  return CODES.has(value);
}
