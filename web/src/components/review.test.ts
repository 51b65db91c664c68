import { describe, expect, it } from 'vitest';
import { formatMicros } from '../pages/LogsPage';
import { MAX_KEY_LIMIT, validateKeyLimit } from './KeyLimitCard';
import { REVIEWS, reviewFilter } from './ReviewChips';

describe('reviewFilter', () => {
  it('maps each chip to its filter and anything else to none', () => {
    expect(reviewFilter('unused')).toEqual({ unusedDays: 30 });
    expect(reviewFilter('expiring')).toEqual({ expiringWithinDays: 7 });
    expect(reviewFilter('near')).toEqual({ nearLimitPercent: 80 });
    expect(reviewFilter(null)).toBeNull();
    expect(reviewFilter('toString')).toBeNull();
    expect(reviewFilter('bogus')).toBeNull();
    expect(Object.keys(REVIEWS)).toHaveLength(3);
  });
});

describe('validateKeyLimit', () => {
  it.each([
    ['100', null],
    ['1', null],
    ['100,000', null],
    ['0', 'The key limit must be a whole number, at least 1.'],
    ['-3', 'The key limit must be a whole number, at least 1.'],
    ['2.5', 'The key limit must be a whole number, at least 1.'],
    ['', 'The key limit must be a whole number, at least 1.'],
    [String(MAX_KEY_LIMIT + 1), 'The key limit can be at most 100,000.'],
  ])('%s', (text, want) => {
    expect(validateKeyLimit(text)).toBe(want);
  });
});

describe('formatMicros', () => {
  it('shows small costs in micro-dollars and larger ones in dollars', () => {
    expect(formatMicros(0)).toBe('$0');
    expect(formatMicros(42)).toBe('42 µ$');
    expect(formatMicros(1_234_500)).toBe('$1.2345');
  });
});
