import { describe, expect, it } from 'vitest';
import { centsToDollarsInput, costAxisFormatter, formatCents, formatCost, formatMicros, parseDollarsToCents, spendPercent } from './money';

describe('formatMicros', () => {
  it.each([
    ['zero', 0, '$0.00'],
    ['one cent', 10_000, '$0.01'],
    ['rounds half up', 1_235_000, '$1.24'],
    ['rounds down below half', 1_234_999, '$1.23'],
    ['groups thousands', 123_456_789_000, '$123,456.79'],
    ['negative (credit)', -2_500_000, '-$2.50'],
    ['negative rounding to zero has no sign', -1, '$0.00'],
    ['largest safe integer is exact', Number.MAX_SAFE_INTEGER, '$9,007,199,254.74'],
  ])('%s', (_name, micros, want) => {
    expect(formatMicros(micros)).toBe(want);
  });

  it('formats to other precisions', () => {
    expect(formatMicros(1_234_567, 4)).toBe('$1.2346');
    expect(formatMicros(1_234_567, 6)).toBe('$1.234567');
    expect(formatMicros(1_500_000, 0)).toBe('$2');
  });

  it('refuses non-integers, so a float never sneaks into money', () => {
    expect(() => formatMicros(1.5)).toThrow(RangeError);
  });
});

describe('formatCost', () => {
  it('shows sub-cent amounts with four places', () => {
    expect(formatCost(1_200)).toBe('$0.0012');
    expect(formatCost(0)).toBe('$0.00');
    expect(formatCost(5_000)).toBe('$0.01');
    expect(formatCost(42_000_000)).toBe('$42.00');
  });

  it('shows six places where four would read $0.0000', () => {
    expect(formatCost(4)).toBe('$0.000004');
    expect(formatCost(49)).toBe('$0.000049');
    expect(formatCost(50)).toBe('$0.0001');
  });
});

describe('cents', () => {
  it('formats cents', () => {
    expect(formatCents(12345)).toBe('$123.45');
    expect(formatCents(5)).toBe('$0.05');
  });
  it.each([
    ['250', 25_000],
    ['99.5', 9_950],
    ['$10.05', 1_005],
    ['1,250.00', 125_000],
    ['0', 0],
    ['0.1', 10],
  ])('parses %s', (text, cents) => {
    expect(parseDollarsToCents(text)).toBe(cents);
  });
  it.each(['', 'abc', '-5', '1.234', '1e3', '..'])('rejects %j', (text) => {
    expect(parseDollarsToCents(text)).toBeNull();
  });
  it('round-trips the editor text', () => {
    expect(centsToDollarsInput(1050)).toBe('10.50');
    expect(parseDollarsToCents(centsToDollarsInput(123456))).toBe(123456);
  });
});

describe('spendPercent', () => {
  it('compares micro-dollars with cents in integers', () => {
    expect(spendPercent(5_000_000, 1_000)).toBe(50); // $5 of $10
    expect(spendPercent(9_999_999, 1_000)).toBe(99);
    expect(spendPercent(50_000_000, 1_000)).toBe(100); // clamped
    expect(spendPercent(1, null)).toBe(0);
  });
});

describe('costAxisFormatter', () => {
  // The ticks recharts would draw for each range: every label must differ.
  it.each([
    ['a few micro-dollars', 40, [0, 10, 20, 30, 40], ['0 µ$', '10 µ$', '20 µ$', '30 µ$', '40 µ$']],
    ['under a cent', 4_000, [0, 1_000, 2_000, 3_000, 4_000], ['$0.0000', '$0.0010', '$0.0020', '$0.0030', '$0.0040']],
    ['cents', 60_000, [0, 15_000, 30_000, 45_000, 60_000], ['$0.000', '$0.015', '$0.030', '$0.045', '$0.060']],
    ['dollars', 12_000_000, [0, 3_000_000, 6_000_000], ['$0.00', '$3.00', '$6.00']],
  ])('%s', (_name, max, ticks, want) => {
    const f = costAxisFormatter(max);
    const got = ticks.map((v) => f(v));
    expect(got).toEqual(want);
    expect(new Set(got).size).toBe(ticks.length);
  });

  it('never repeats $0.0000 for small amounts (the screenshot bug)', () => {
    const f = costAxisFormatter(36);
    expect([9, 18, 27, 36].map((v) => f(v))).not.toContain('$0.0000');
  });
});
