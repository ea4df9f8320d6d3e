/** SenML JSON text (RFC 8428 §5): bytes → JSON value, with the checks JSON.parse does not make. */
import { Buffer, isUtf8 } from 'node:buffer';
import { SenMLError } from './senml-error.js';

const RULE_JSON = 'RFC 8259 / RFC 8428 §5: JSON representation';

/**
 * Decodes UTF-8 JSON. Rejects (code `syntax`) bytes that are not UTF-8, text JSON.parse refuses, and numbers with an
 * upper-case exponent (`1E5`): RFC 8428 §5 says the "e" MUST be lower case.
 */
export function decodeSenMLJsonText(input: Uint8Array | string): unknown {
  let text: string;
  if (typeof input === 'string') {
    text = input;
  } else {
    if (!isUtf8(input)) throw new SenMLError('syntax', 'payload is not valid UTF-8', -1, RULE_JSON);
    text = Buffer.from(input.buffer, input.byteOffset, input.byteLength).toString('utf8');
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new SenMLError('syntax', `invalid JSON: ${reason}`, -1, RULE_JSON);
  }
  if (text.indexOf('E') !== -1 && hasUpperCaseExponent(text)) {
    throw new SenMLError(
      'syntax',
      'number with an upper-case exponent "E"',
      -1,
      'RFC 8428 §5: the "e" MUST be lowercase',
    );
  }
  return value;
}

/** In valid JSON an `E` outside a string can only be a number's exponent marker. */
function hasUpperCaseExponent(text: string): boolean {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c)
        i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) {
      inString = true;
    } else if (c === 0x45) {
      return true;
    }
  }
  return false;
}
