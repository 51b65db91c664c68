import { describe, expect, it } from 'vitest';
import { centsToDollarsInput, formatCents, formatCost, formatMicros, parseDollarsToCents, spendPercent } from './money';

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
