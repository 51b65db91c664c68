import { describe, expect, it } from 'vitest';
import { isIPOrCIDR } from './net';

describe('isIPOrCIDR', () => {
  it.each(['10.0.0.1', '203.0.113.0/24', '0.0.0.0/0', '::1', '2001:db8::/32', '::ffff:192.0.2.1', '2001:db8:0:0:0:0:0:1'])('accepts %s', (s) => {
    expect(isIPOrCIDR(s)).toBe(true);
  });
  it.each(['', '10.0.0', '256.1.1.1', '10.0.0.1/33', '2001:db8::/129', 'example.com', '1.2.3.4/24/1', '2001:::1', '01.2.3.4x'])('rejects %j', (s) => {
    expect(isIPOrCIDR(s)).toBe(false);
  });
});
