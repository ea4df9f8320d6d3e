/** fast-check generators shared by the codec tests. */
import { Buffer } from 'node:buffer';
import fc from 'fast-check';
import type { SenMLPackRecord } from '../../codecs/index.js';

const goodName = fc.stringMatching(/^[A-Za-z0-9][A-Za-z0-9:./_-]{0,8}$/);
const anyName = fc.oneof(
  { weight: 6, arbitrary: goodName },
  { weight: 1, arbitrary: fc.string({ maxLength: 4 }) },
);
const finite = fc
  .double({ noNaN: true, noDefaultInfinity: true, min: -1e12, max: 1e12 })
  .map((x) => (x === 0 ? 0 : x));
const number = fc.oneof(fc.integer({ min: -1000, max: 1000 }), finite);
const time = fc.oneof(
  fc.integer({ min: -100, max: 100 }),
  fc.integer({ min: 1_600_000_000, max: 1_800_000_000 }),
  fc.constant(2 ** 28 - 1),
  finite,
);
const b64url = fc.uint8Array({ maxLength: 9 }).map((b) => Buffer.from(b).toString('base64url'));
const wrong = fc.oneof(
  fc.string({ maxLength: 3 }),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 2 }),
);
const label = (name: string, good: fc.Arbitrary<unknown>): fc.Arbitrary<[string, unknown]> =>
  fc.tuple(fc.constant(name), fc.oneof({ weight: 12, arbitrary: good }, { weight: 1, arbitrary: wrong }));
const field = fc.oneof(
  label(
    'bn',
    fc.oneof(
      goodName.map((n) => `${n}/`),
      anyName,
    ),
  ),
  label('bt', time),
  label('bu', fc.constantFrom('Cel', '%RH', 'W', '/')),
  label('bv', number),
  label('bs', number),
  label('bver', fc.constantFrom(10, 10, 10, 5, 11, 26, 0, 10.5)),
  { weight: 4, arbitrary: label('n', anyName) },
  label('u', fc.constantFrom('Cel', 'K', 'lat')),
  { weight: 4, arbitrary: label('v', number) },
  label('vs', fc.string({ maxLength: 6 })),
  label('vb', fc.boolean()),
  label('vd', b64url),
  label('s', number),
  { weight: 2, arbitrary: label('t', time) },
  label('ut', number),
  fc.tuple(fc.constantFrom('x', 'ct', 'foo_', 'bct'), fc.oneof(fc.string({ maxLength: 3 }), fc.integer())),
);
/** Any mix of labels (mostly invalid as a whole: no name, no value, two values...). */
const anyRecord = fc
  .array(field, { maxLength: 6 })
  .map((entries) => Object.fromEntries(entries) as SenMLPackRecord);
/** A record that is valid on its own: a name, exactly one value or a sum, optional time, unit and base fields. */
const wellFormedRecord = fc
  .record({
    n: goodName,
    value: fc.oneof(
      fc.record({ v: number }),
      fc.record({ vs: fc.string({ maxLength: 6 }) }),
      fc.record({ vb: fc.boolean() }),
      fc.record({ vd: b64url }),
      fc.record({ s: number }),
      fc.record({ v: number, s: number }),
    ),
    extra: fc.record(
      {
        bn: goodName.map((n) => `${n}/`),
        bt: time,
        bu: fc.constantFrom('Cel', '%RH', 'W'),
        bv: number,
        bs: number,
        t: time,
        u: fc.constantFrom('K', 'lat'),
        ut: number,
        x: fc.integer(),
      },
      { requiredKeys: [] },
    ),
  })
  .map(({ n, value, extra }): SenMLPackRecord => ({ ...extra, n, ...value }));
const record = fc.oneof({ weight: 4, arbitrary: wellFormedRecord }, { weight: 1, arbitrary: anyRecord });
/** SenML-ish packs: mostly well-formed records, mixed with wrong types, names, versions, unknown labels. */
export const pack = fc.array(record, { maxLength: 8 });
