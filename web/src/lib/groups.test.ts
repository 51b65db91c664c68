import { describe, expect, it } from 'vitest';
import { formatMultiplier, validateGroupInput } from './groups';

describe('formatMultiplier', () => {
  it.each([
    [10_000, 'list price'],
    [15_000, '1.5× list'],
    [5_000, '0.5× list'],
    [12_345, '1.2345× list'],
    [0, '0× list'],
    [100_000, '10× list'],
  ])('%i bps', (bps, want) => expect(formatMultiplier(bps)).toBe(want));
});

describe('validateGroupInput', () => {
  it('accepts a group', () => {
    expect(validateGroupInput({ name: ' plus ', bps: '15,000', rpm: '60', tpm: '0' }).input).toEqual({ name: 'plus', priceMultiplierBps: 15000, rpm: 60, tpm: 0 });
  });
  it('names each bad field', () => {
    const { input, errors } = validateGroupInput({ name: '', bps: '100001', rpm: '-1', tpm: 'x' });
    expect(input).toBeNull();
    expect(Object.keys(errors).sort()).toEqual(['bps', 'name', 'rpm', 'tpm']);
  });
});
