// The edit form of an API key: its text fields, their checks (the server
// checks again) and the UpdateAPIKeyInput they become. Only what changed
// is sent, so that editing the label of an expired key, say, does not also
// try to give it an expiry (which the API refuses: an expired key stays
// expired).

import { centsToDollarsInput, parseDollarsToCents } from './money';
import { isIPOrCIDR } from './net';

/** MAX_INT is GraphQL's Int ceiling. */
const MAX_INT = 2_147_483_647;

/** KeySettings is what the edit form reads of a key. */
export interface KeySettings {
  label: string;
  expiresAt: string | null;
  maxRequests: number;
  creditQuotaCents: number | null;
  allowedModels: readonly string[];
  ipAllowlist: readonly string[];
  rpm: number | null;
  tpm: number | null;
  cacheEnabled: boolean;
}

/** KeyForm is the form's state: text as typed, lists as chips. */
export interface KeyForm {
  label: string;
  /** expiresAt is a datetime-local value ("2026-11-23T10:00"), or "" for never. */
  expiresAt: string;
  maxRequests: string;
  /** creditQuota is dollars as typed ("12.50"); "" or 0 = unlimited. */
  creditQuota: string;
  allowedModels: string[];
  ipAllowlist: string[];
  rpm: string;
  tpm: string;
  cacheEnabled: boolean;
}

/** KeyFormErrors names, per field, what is wrong with it. */
export type KeyFormErrors = Partial<Record<keyof KeyForm, string>>;

/** UpdateInput is the part of UpdateAPIKeyInput the form sends. */
export interface UpdateInput {
  label?: string;
  expiresAt?: string;
  clearExpiresAt?: boolean;
  maxRequests?: number;
  creditQuotaCents?: number;
  allowedModels?: string[];
  ipAllowlist?: string[];
  rpm?: number;
  tpm?: number;
  cacheEnabled?: boolean;
}

/** toLocalInput turns an RFC 3339 time into a datetime-local value in the browser's zone. */
export function toLocalInput(iso: string | null | undefined): string {
  if (!iso) return '';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return '';
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** formFor fills the form from a key. */
export function formFor(k: KeySettings): KeyForm {
  return {
    label: k.label,
    expiresAt: toLocalInput(k.expiresAt),
    maxRequests: String(k.maxRequests),
    creditQuota: k.creditQuotaCents ? centsToDollarsInput(k.creditQuotaCents) : '',
    allowedModels: [...k.allowedModels],
    ipAllowlist: [...k.ipAllowlist],
    rpm: String(k.rpm ?? 0),
    tpm: String(k.tpm ?? 0),
    cacheEnabled: k.cacheEnabled,
  };
}

function wholeNumber(text: string, what: string): { n: number } | { error: string } {
  const t = text.trim().replace(/[,_\s]/g, '');
  if (t === '') return { error: `${what} is required — enter 0 for unlimited.` };
  if (!/^\d+$/.test(t)) return { error: `${what} must be a whole number, 0 or more.` };
  const n = Number(t);
  if (n > MAX_INT) return { error: `${what} can be at most ${MAX_INT.toLocaleString('en-US')}.` };
  return { n };
}

/**
 * checkKeyForm validates f at now and returns the input that saves it
 * against the key as it was (only the fields that changed), or the errors
 * by field.
 */
export function checkKeyForm(f: KeyForm, was: KeySettings, now: Date = new Date()): { input: UpdateInput } | { errors: KeyFormErrors } {
  const errors: KeyFormErrors = {};
  const input: UpdateInput = {};
  const label = f.label.trim();
  if (!label) errors.label = 'Give the key a label, such as prod-payments-worker.';
  else if ([...label].length > 100) errors.label = 'A label is at most 100 characters.';
  else if (label !== was.label) input.label = label;

  if (f.expiresAt !== toLocalInput(was.expiresAt)) {
    if (f.expiresAt === '') {
      input.clearExpiresAt = true;
    } else {
      const at = new Date(f.expiresAt);
      if (Number.isNaN(at.getTime())) errors.expiresAt = 'Enter a date and time, or leave it empty for a key that never expires.';
      else if (at.getTime() <= now.getTime()) errors.expiresAt = 'The expiry must be in the future.';
      else input.expiresAt = at.toISOString();
    }
  }

  for (const [name, what] of [
    ['maxRequests', 'Max requests'],
    ['rpm', 'Requests per minute'],
    ['tpm', 'Tokens per minute'],
  ] as const) {
    const r = wholeNumber(f[name], what);
    if ('error' in r) errors[name] = r.error;
    else if (r.n !== (name === 'maxRequests' ? was.maxRequests : (was[name] ?? 0))) input[name] = r.n;
  }

  const quotaText = f.creditQuota.trim();
  const cents = quotaText === '' ? 0 : parseDollarsToCents(quotaText);
  if (cents === null) errors.creditQuota = 'Enter an amount in dollars, such as 25 or 12.50; leave it empty for no quota.';
  else if (cents > MAX_INT) errors.creditQuota = 'That quota is too large.';
  else if (cents !== (was.creditQuotaCents ?? 0)) input.creditQuotaCents = cents;

  const badIP = f.ipAllowlist.find((ip) => !isIPOrCIDR(ip));
  if (badIP) errors.ipAllowlist = `“${badIP}” is not an IP address or CIDR range, e.g. 203.0.113.0/24.`;
  else if (!sameList(f.ipAllowlist, was.ipAllowlist)) input.ipAllowlist = f.ipAllowlist;
  if (!sameList(f.allowedModels, was.allowedModels)) input.allowedModels = f.allowedModels;
  if (f.cacheEnabled !== was.cacheEnabled) input.cacheEnabled = f.cacheEnabled;

  return Object.keys(errors).length ? { errors } : { input };
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}
