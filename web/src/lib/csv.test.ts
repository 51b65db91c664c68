import { describe, expect, it } from 'vitest';
import { KEY_CSV_HEADER, csvField, keysToCSV, type KeyCSVRow } from './csv';

const row: KeyCSVRow & { secret?: string } = {
  id: 'key_01',
  label: 'prod, "payments"',
  maskedKey: 'sk-oa**********25xx',
  status: 'ACTIVE',
  createdAt: '2026-11-23T10:00:00Z',
  expiresAt: null,
  lastUsedAt: '2026-11-23T11:00:00Z',
  requestCount: 12,
  maxRequests: 0,
  cacheHits: 3,
  // Even if a caller passes an object holding a secret, it is not exported.
  secret: 'sk-oais-AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA',
};

describe('keysToCSV', () => {
  it('has the documented columns and no secret column', () => {
    const [header] = keysToCSV([]).split('\r\n');
    expect(header).toBe('id,label,masked key,status,created,expires,last used,requests,max requests,cache hits');
    expect(KEY_CSV_HEADER).not.toContain('secret');
  });

  it('writes one escaped row per key and never the secret', () => {
    const csv = keysToCSV([row]);
    const lines = csv.split('\r\n');
    expect(lines).toHaveLength(3); // header, row, trailing empty
    expect(lines[1]).toBe('key_01,"prod, ""payments""",sk-oa**********25xx,ACTIVE,2026-11-23T10:00:00Z,never,2026-11-23T11:00:00Z,12,unlimited,3');
    expect(csv).not.toContain('sk-oais-');
  });
});

describe('csvField', () => {
  it.each([
    ['plain', 'plain'],
    ['a,b', '"a,b"'],
    ['say "hi"', '"say ""hi"""'],
    ['two\nlines', '"two\nlines"'],
    ['=HYPERLINK("x")', '"\'=HYPERLINK(""x"")"'],
    ['+1', "'+1"],
    ['@SUM(A1)', "'@SUM(A1)"],
    ['', ''],
  ])('%j → %j', (input, want) => {
    expect(csvField(input)).toBe(want);
  });
  it('leaves numbers alone, negative ones included', () => {
    expect(csvField(-3)).toBe('-3');
    expect(csvField(null)).toBe('');
  });
});
