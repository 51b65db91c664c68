import { describe, expect, it } from 'vitest';
import { DEFAULT_DURATION, DURATION_PRESETS, expiresAtFor } from './duration';

const now = new Date('2026-11-23T10:00:00.000Z');

describe('expiresAtFor', () => {
  it.each([
    ['1h', '2026-11-23T11:00:00.000Z'],
    ['4h', '2026-11-23T14:00:00.000Z'],
    ['24h', '2026-11-24T10:00:00.000Z'],
    ['168h', '2026-11-30T10:00:00.000Z'],
    ['720h', '2026-12-23T10:00:00.000Z'],
  ])('%s → %s', (preset, want) => {
    expect(expiresAtFor(preset, now)).toBe(want);
  });

  it('never → null (the key does not expire)', () => {
    expect(expiresAtFor('never', now)).toBeNull();
  });

  it('rejects unknown presets', () => {
    expect(() => expiresAtFor('3h', now)).toThrow(/unknown/);
  });

  it('defaults to 24 hours, as the product guide recommends', () => {
    expect(DEFAULT_DURATION).toBe('24h');
    expect(DURATION_PRESETS.map((p) => p.id)).toEqual(['1h', '4h', '24h', '168h', '720h', 'never']);
  });
});
