import { describe, expect, it } from 'vitest';
import { DEFAULT_CHOICE, DEFAULT_DURATION_HOURS, DURATION_PRESETS, durationOf, parseHours, presetLabel } from './duration';

describe('duration presets', () => {
  it('offers the product guide’s lifetimes and defaults to 24 hours', () => {
    expect(DEFAULT_DURATION_HOURS).toBe(24);
    expect(DURATION_PRESETS).toEqual([1, 2, 3, 4, 8, 24, 168, 720]);
  });

  it.each([
    [1, '1 h'],
    [8, '8 h'],
    [24, '24 h'],
    [168, '168 h (7 days)'],
    [720, '720 h (30 days)'],
  ])('%i → %s', (h, want) => {
    expect(presetLabel(h)).toBe(want);
  });
});

describe('parseHours', () => {
  it.each([
    ['48', 48],
    [' 1 ', 1],
    ['1,000', 1000],
    ['87600', 87_600],
  ])('%s → %i hours', (text, hours) => {
    expect(parseHours(text)).toEqual({ hours });
  });

  it.each([
    ['', /Enter a number/],
    ['0', /between 1 and 87,600/],
    ['87601', /between 1 and 87,600/],
    ['1.5', /whole number/],
    ['-3', /whole number/],
    ['two days', /whole number/],
  ])('refuses %j', (text, msg) => {
    const r = parseHours(text);
    expect('error' in r && r.error).toMatch(msg);
  });
});

describe('durationOf', () => {
  it('sends the preset’s hours, 24 by default', () => {
    expect(durationOf(DEFAULT_CHOICE)).toEqual({ hours: 24 });
    expect(durationOf({ choice: '8', custom: '' })).toEqual({ hours: 8 });
  });
  it('sends a custom number of hours, or says what is wrong with it', () => {
    expect(durationOf({ choice: 'custom', custom: '36' })).toEqual({ hours: 36 });
    expect(durationOf({ choice: 'custom', custom: '' })).toEqual({ error: 'Enter a number of hours, e.g. 48.' });
  });
  it('never → null (the key does not expire)', () => {
    expect(durationOf({ choice: 'never', custom: '5' })).toEqual({ hours: null });
  });
});
