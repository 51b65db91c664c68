// Money is integers end to end (CONTRACT §5): micro-dollars for metered cost,
// cents for caps. These helpers use BigInt so no float ever touches an
// amount; they only turn integers into text at the very edge.

const MICROS_PER_DOLLAR = 1_000_000n;
const MICROS_PER_CENT = 10_000n;

function groupThousands(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

function toBig(n: number | bigint): bigint {
  if (typeof n === 'bigint') return n;
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer amount: ${n}`);
  return BigInt(n);
}

/**
 * formatMicros renders micro-dollars as dollars rounded half away from zero
 * to `decimals` places (0–6), e.g. 1_234_567 → "$1.23".
 */
export function formatMicros(micros: number | bigint, decimals = 2): string {
  if (decimals < 0 || decimals > 6) throw new RangeError('decimals must be 0–6');
  const m = toBig(micros);
  const negative = m < 0n;
  const abs = negative ? -m : m;
  const unit = 10n ** BigInt(6 - decimals); // micro-dollars per displayed step
  const steps = (abs + unit / 2n) / unit; // round half up on the magnitude
  const scale = 10n ** BigInt(decimals);
  const whole = groupThousands((steps / scale).toString());
  const frac = decimals > 0 ? '.' + (steps % scale).toString().padStart(decimals, '0') : '';
  return `${negative && steps > 0n ? '-' : ''}$${whole}${frac}`;
}

/**
 * formatCost is formatMicros for usage tables: cents normally, four places
 * for a non-zero amount under one cent so small spends do not read as $0.00,
 * and all six for one that four places would still show as $0.0000.
 */
export function formatCost(micros: number | bigint): string {
  const m = toBig(micros);
  const abs = m < 0n ? -m : m;
  if (abs > 0n && abs < 50n) return formatMicros(m, 6);
  if (abs > 0n && abs < MICROS_PER_CENT / 2n) return formatMicros(m, 4);
  return formatMicros(m, 2);
}

/** formatCents renders an integer number of cents as dollars, e.g. 12345 → "$123.45". */
export function formatCents(cents: number | bigint): string {
  return formatMicros(toBig(cents) * MICROS_PER_CENT, 2);
}

/**
 * parseDollarsToCents reads what a user typed ("1,250", "99.5", "$10.05")
 * into whole cents by string arithmetic. It returns null for anything that
 * is not a non-negative amount with at most two decimals.
 */
export function parseDollarsToCents(text: string): number | null {
  const t = text.trim().replace(/^\$/, '').replace(/,/g, '');
  const m = /^(\d+)(?:\.(\d{0,2}))?$/.exec(t);
  if (!m) return null;
  const cents = BigInt(m[1]) * 100n + BigInt((m[2] ?? '').padEnd(2, '0') || '0');
  if (cents > BigInt(Number.MAX_SAFE_INTEGER)) return null;
  return Number(cents);
}

/** centsToDollarsInput turns cents into the text an amount field starts with, e.g. 1050 → "10.50". */
export function centsToDollarsInput(cents: number): string {
  const c = toBig(cents);
  return `${c / 100n}.${(c % 100n).toString().padStart(2, '0')}`;
}

/**
 * spendPercent is how much of a cap (cents) a spend (micro-dollars) has used,
 * as a whole percent floored and clamped to 0–100; 0 when there is no cap.
 */
export function spendPercent(spendMicros: number, capCents: number | null | undefined): number {
  if (!capCents || capCents <= 0) return 0;
  const pct = (toBig(spendMicros) * 100n) / (toBig(capCents) * MICROS_PER_CENT);
  return Number(pct > 100n ? 100n : pct < 0n ? 0n : pct);
}

export { MICROS_PER_DOLLAR };

/**
 * costAxisFormatter returns the tick formatter of a cost axis whose largest
 * value is maxMicros: the precision comes from the range, so ticks differ
 * from each other. Below a tenth of a cent the ticks are whole micro-dollars
 * ("250 µ$"); above, dollars with as many places as the range needs (2 to 6),
 * so small spends no longer read "$0.0000" on every tick.
 */
export function costAxisFormatter(maxMicros: number): (micros: number) => string {
  const max = Math.abs(Math.round(maxMicros));
  if (max > 0 && max < 1_000) {
    return (v) => `${groupThousands(String(Math.round(v)))} µ$`;
  }
  // One more place than the largest value's leading digit, at least cents.
  const digits = String(max).length; // of the micro-dollar integer
  const decimals = Math.min(6, Math.max(2, 8 - digits));
  return (v) => formatMicros(Math.round(v), decimals);
}
