import { describe, expect, it } from 'vitest';
import { formatErrorRate } from './format';

describe('formatErrorRate', () => {
  it.each([
    ['no calls', 0, 0, '—'],
    ['no errors', 0, 120, '0%'],
    ['all errors', 5, 0, '100%'],
    ['one decimal below 10%', 1, 39, '2.5%'],
    ['whole number from 10%', 1, 7, '13%'],
    ['tiny share is not rounded to zero', 1, 10_000, '<0.1%'],
    ['trailing zero dropped', 1, 9, '10%'],
    ['exact decimal', 1, 19, '5%'],
  ])('%s', (_name, errors, answered, want) => {
    expect(formatErrorRate(errors, answered)).toBe(want);
  });
});
