/**
 * An optional check of a payload before it is fanned out, e.g. "channels in strict mode accept only
 * valid SenML". The broker core knows no channels or SenML: the platform supplies the validator.
 * It runs synchronously on the publishing path, so it must be cheap for payloads it does not check.
 */
export interface PayloadValidator {
  /** Returns null when the payload may be routed, or the reason it may not. Must not throw. */
  validate(topic: string, contentType: string | undefined, payload: Buffer): string | null;
}
