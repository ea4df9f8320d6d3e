import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { E2EError } from '../../e2e/errors.js';
import { type ReplayStatus, ReplayWindow } from '../../e2e/replay-window.js';

function codeOf(action: () => unknown): string {
  try {
    action();
  } catch (error) {
    if (error instanceof E2EError) return error.code;
    throw error;
  }
  return 'no error';
}

describe('ReplayWindow', () => {
  it('accepts each index once, tolerates reordering inside the window, rejects older ones', () => {
    const window = new ReplayWindow(64);
    window.record(10);
    expect(codeOf(() => window.record(10))).toBe('REPLAY');
    window.record(12);
    window.record(11); // late but inside the window
    expect(codeOf(() => window.record(11))).toBe('REPLAY');
    window.record(0); // 12 - 64 < 0: still inside
    window.record(200);
    expect(window.highest).toBe(200);
    expect(window.status(136)).toBe('too-old'); // 200 - 64
    expect(window.status(137)).toBe('new');
    expect(window.status(200)).toBe('duplicate');
    expect(codeOf(() => window.record(12))).toBe('REPLAY');
  });

  it('status() does not record', () => {
    const window = new ReplayWindow(32);
    expect(window.status(5)).toBe('new');
    expect(window.status(5)).toBe('new');
    expect(window.highest).toBe(-1);
  });

  it('clears slots reused by a forward jump smaller than the window', () => {
    const window = new ReplayWindow(32);
    for (let i = 0; i < 32; i++) window.record(i);
    window.record(40); // slots of 32..40 were those of 0..8
    for (let i = 32; i < 40; i++) expect(window.status(i)).toBe('new');
    for (let i = 9; i < 32; i++) expect(window.status(i)).toBe('duplicate');
    for (let i = 0; i <= 8; i++) expect(window.status(i)).toBe('too-old');
  });

  it('rejects bad sizes', () => {
    for (const size of [0, 16, 33, 2 ** 21, 1.5]) {
      expect(codeOf(() => new ReplayWindow(size))).toBe('INVALID_ARGUMENT');
    }
  });

  it('agrees with an unbounded reference model on random index sequences', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(32, 64, 128),
        fc.array(fc.nat({ max: 400 }), { maxLength: 300 }),
        (size, indices) => {
          const window = new ReplayWindow(size);
          const accepted = new Set<number>();
          let highest = -1;
          for (const index of indices) {
            let expected: ReplayStatus = 'new';
            if (index <= highest - size) expected = 'too-old';
            else if (accepted.has(index)) expected = 'duplicate';
            expect(window.status(index)).toBe(expected);
            if (expected === 'new') {
              window.record(index);
              accepted.add(index);
              highest = Math.max(highest, index);
            } else {
              expect(codeOf(() => window.record(index))).toBe('REPLAY');
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});
