import { describe, expect, it } from 'vitest';
import { checkKeyForm, formFor, toLocalInput, type KeySettings } from './keySettings';

const now = new Date('2026-11-23T10:00:00Z');
const key: KeySettings = {
  label: 'prod-worker',
  expiresAt: '2026-11-24T10:00:00Z',
  maxRequests: 100,
  creditQuotaCents: 2500,
  allowedModels: ['gpt-4o-mini'],
  ipAllowlist: ['10.0.0.0/8'],
  rpm: null,
  tpm: 6000,
  cacheEnabled: false,
};

describe('checkKeyForm', () => {
  it('sends nothing for an untouched form', () => {
    expect(checkKeyForm(formFor(key), key, now)).toEqual({ input: {} });
  });

  it('sends every changed setting, in the API’s units', () => {
    const f = formFor(key);
    Object.assign(f, {
      label: ' renamed ',
      maxRequests: '0',
      creditQuota: '40.05',
      allowedModels: ['gpt-4o-mini', 'mock-gpt'],
      ipAllowlist: ['203.0.113.7'],
      rpm: '60',
      tpm: '1,000',
      cacheEnabled: true,
      expiresAt: toLocalInput('2026-12-01T10:00:00Z'),
    });
    expect(checkKeyForm(f, key, now)).toEqual({
      input: {
        label: 'renamed',
        maxRequests: 0,
        creditQuotaCents: 4005,
        allowedModels: ['gpt-4o-mini', 'mock-gpt'],
        ipAllowlist: ['203.0.113.7'],
        rpm: 60,
        tpm: 1000,
        cacheEnabled: true,
        expiresAt: '2026-12-01T10:00:00.000Z',
      },
    });
  });

  it('an empty expiry means never; an empty quota removes it', () => {
    const f = { ...formFor(key), expiresAt: '', creditQuota: '' };
    expect(checkKeyForm(f, key, now)).toEqual({ input: { clearExpiresAt: true, creditQuotaCents: 0 } });
  });

  it.each([
    ['a past expiry', { expiresAt: toLocalInput('2026-11-23T09:00:00Z') }, 'expiresAt', /in the future/],
    ['a bad CIDR', { ipAllowlist: ['10.0.0.0/33'] }, 'ipAllowlist', /is not an IP address or CIDR range/],
    ['a negative limit', { maxRequests: '-1' }, 'maxRequests', /whole number/],
    ['an empty rate limit', { rpm: '' }, 'rpm', /enter 0 for unlimited/],
    ['a quota in the wrong shape', { creditQuota: '12.345' }, 'creditQuota', /amount in dollars/],
    ['no label', { label: '   ' }, 'label', /Give the key a label/],
  ])('refuses %s, inline', (_, change, field, msg) => {
    const r = checkKeyForm({ ...formFor(key), ...change }, key, now);
    expect('errors' in r && r.errors[field as keyof typeof r.errors]).toMatch(msg);
  });
});
