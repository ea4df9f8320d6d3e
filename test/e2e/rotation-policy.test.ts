import { describe, expect, it } from 'vitest';
import { DEFAULT_ROTATION_POLICY, resolveRotationPolicy, rotationDue } from '../../e2e/rotation.js';

describe('rotation policy', () => {
  it('defaults to 1000 messages or 24 hours', () => {
    expect(resolveRotationPolicy()).toEqual(DEFAULT_ROTATION_POLICY);
    expect(DEFAULT_ROTATION_POLICY).toEqual({ maxMessages: 1000, maxAgeMs: 86_400_000 });
    expect(resolveRotationPolicy({ maxMessages: 5 })).toEqual({ maxMessages: 5, maxAgeMs: 86_400_000 });
  });

  it('is due by count at exactly maxMessages sent, by age at exactly maxAgeMs', () => {
    const policy = resolveRotationPolicy({ maxMessages: 10, maxAgeMs: 1000 });
    expect(rotationDue(policy, { messagesSent: 9, createdAt: 0 }, 999)).toBeUndefined();
    expect(rotationDue(policy, { messagesSent: 10, createdAt: 0 }, 0)).toBe('messages');
    expect(rotationDue(policy, { messagesSent: 0, createdAt: 0 }, 1000)).toBe('age');
    expect(rotationDue(policy, { messagesSent: 10, createdAt: 0 }, 1000)).toBe('messages');
  });

  it('rejects nonsense values', () => {
    expect(() => resolveRotationPolicy({ maxMessages: 0 })).toThrow(/INVALID_ARGUMENT/);
    expect(() => resolveRotationPolicy({ maxMessages: 1.5 })).toThrow(/INVALID_ARGUMENT/);
    expect(() => resolveRotationPolicy({ maxAgeMs: 0 })).toThrow(/INVALID_ARGUMENT/);
    expect(() => resolveRotationPolicy({ maxAgeMs: Number.NaN })).toThrow(/INVALID_ARGUMENT/);
  });
});
