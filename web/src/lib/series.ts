// Time windows and gap-filling for usage charts. The server returns only
// the buckets that saw traffic; charts need every bucket in the window.

/** Range is a usage window the page offers. */
export type Range = '24h' | '30d';

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/**
 * usageWindow returns the [from, to) window for a range, aligned to whole
 * UTC hours (24 h) or days (30 d) so the query variables stay the same for
 * a whole bucket and the cache can serve repeat visits.
 */
export function usageWindow(range: Range, now: Date = new Date()): { from: string; to: string; granularity: 'HOUR' | 'DAY'; stepMs: number } {
  const step = range === '24h' ? HOUR : DAY;
  const count = range === '24h' ? 24 : 30;
  const to = Math.floor(now.getTime() / step) * step + step;
  const from = to - count * step;
  return { from: new Date(from).toISOString(), to: new Date(to).toISOString(), granularity: range === '24h' ? 'HOUR' : 'DAY', stepMs: step };
}

/** fillSeries returns one point per bucket from `from` to `to`, using `empty` where the server sent none. */
export function fillSeries<P extends { time: string }>(points: readonly P[], from: string, to: string, stepMs: number, empty: (time: string) => P): P[] {
  const byTime = new Map<number, P>();
  for (const p of points) byTime.set(Math.floor(new Date(p.time).getTime() / stepMs) * stepMs, p);
  const out: P[] = [];
  for (let t = new Date(from).getTime(); t < new Date(to).getTime(); t += stepMs) {
    out.push(byTime.get(t) ?? empty(new Date(t).toISOString()));
  }
  return out;
}
