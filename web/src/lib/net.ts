// Client-side checks of IP allow-list entries, so a typo is caught in the
// form; the server validates again.

const V4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/** isIPOrCIDR accepts an IPv4/IPv6 address, optionally with a /prefix length. */
export function isIPOrCIDR(s: string): boolean {
  const [addr, prefix, extra] = s.split('/');
  if (extra !== undefined || !addr) return false;
  const v4 = V4.test(addr);
  const v6 = !v4 && isIPv6(addr);
  if (!v4 && !v6) return false;
  if (prefix === undefined) return true;
  if (!/^\d{1,3}$/.test(prefix)) return false;
  return Number(prefix) <= (v4 ? 32 : 128);
}

function isIPv6(s: string): boolean {
  if (!/^[0-9a-fA-F:.]+$/.test(s) || !s.includes(':')) return false;
  if (s.includes(':::') || (s.startsWith(':') && !s.startsWith('::')) || (s.endsWith(':') && !s.endsWith('::'))) return false;
  const doubles = s.split('::').length - 1;
  if (doubles > 1) return false;
  const groups = s.split(':').filter((g) => g !== '');
  const last = groups[groups.length - 1] ?? '';
  const tailV4 = last.includes('.') ? (V4.test(last) ? 2 : -1) : 0;
  if (tailV4 < 0) return false;
  const hexGroups = tailV4 ? groups.slice(0, -1) : groups;
  if (!hexGroups.every((g) => /^[0-9a-fA-F]{1,4}$/.test(g))) return false;
  const count = hexGroups.length + tailV4;
  return doubles ? count < 8 : count === 8;
}
