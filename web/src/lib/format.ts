// Display formatting for dates and counts. Inputs are the API's RFC 3339
// strings and integers; nothing here is stored.

const dateTime = new Intl.DateTimeFormat(undefined, {
  year: 'numeric',
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const compactThisYear = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric', hour: '2-digit', minute: '2-digit' });
const compactOtherYear = new Intl.DateTimeFormat(undefined, { year: 'numeric', month: 'short', day: 'numeric' });
const shortDate = new Intl.DateTimeFormat(undefined, { month: 'short', day: 'numeric' });
const hourOnly = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const numberFmt = new Intl.NumberFormat();

/** formatDateTime renders an RFC 3339 time, or `fallback` when there is none. */
export function formatDateTime(iso: string | null | undefined, fallback = '—'): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? fallback : dateTime.format(d);
}

/** formatCompact renders a time for a table cell: "Nov 21, 03:08 PM" this year, "Nov 21, 2025" otherwise. */
export function formatCompact(iso: string | null | undefined, fallback = '—', now: Date = new Date()): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return fallback;
  return (d.getFullYear() === now.getFullYear() ? compactThisYear : compactOtherYear).format(d);
}

/** formatDay renders the date only: "Nov 21" this year, "Nov 21, 2025" otherwise. */
export function formatDay(iso: string | null | undefined, fallback = '—', now: Date = new Date()): string {
  if (!iso) return fallback;
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return fallback;
  return d.getFullYear() === now.getFullYear() ? shortDate.format(d) : compactOtherYear.format(d);
}

/** formatShortDate renders a chart tick for a day bucket. */
export function formatShortDate(iso: string): string {
  return shortDate.format(new Date(iso));
}

/** formatHour renders a chart tick for an hour bucket. */
export function formatHour(iso: string): string {
  return hourOnly.format(new Date(iso));
}

/** formatRelative renders "5 min ago" / "in 3 h" relative to now. */
export function formatRelative(iso: string | null | undefined, now: Date = new Date(), fallback = 'Never'): string {
  if (!iso) return fallback;
  const t = new Date(iso).getTime();
  if (Number.isNaN(t)) return fallback;
  const diff = t - now.getTime();
  const abs = Math.abs(diff);
  const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto', style: 'short' });
  if (abs < 60_000) return diff < 0 ? 'just now' : 'in under a minute';
  if (abs < 3_600_000) return rtf.format(Math.round(diff / 60_000), 'minute');
  if (abs < 86_400_000) return rtf.format(Math.round(diff / 3_600_000), 'hour');
  if (abs < 30 * 86_400_000) return rtf.format(Math.round(diff / 86_400_000), 'day');
  return formatDateTime(iso);
}

/** formatCount renders an integer with grouping, e.g. 12345 → "12,345". */
export function formatCount(n: number): string {
  return numberFmt.format(n);
}

/** formatLimit renders a 0-means-unlimited limit; 0 → "∞". */
export function formatLimit(n: number | null | undefined): string {
  return !n ? '∞' : formatCount(n);
}

/** truncateID shortens an id for a table cell; the full id goes in a title. */
export function truncateID(id: string, keep = 10): string {
  return id.length <= keep + 1 ? id : `${id.slice(0, keep)}…`;
}

/**
 * formatErrorRate is errors as a share of every call, answered or not
 * ("2.5%", "12%"); "—" when there were none.
 */
export function formatErrorRate(errors: number, answered: number): string {
  const total = errors + answered;
  if (total <= 0) return '—';
  const pct = (100 * errors) / total;
  if (pct > 0 && pct < 0.1) return '<0.1%';
  return `${pct < 10 ? Number(pct.toFixed(1)) : Math.round(pct)}%`;
}
