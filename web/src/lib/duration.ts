// Key lifetimes offered when generating a key, after the product guide: a
// duration in hours, 24 by default and any value allowed, with presets for
// one-time testing (1–4 h), a CI/CD pipeline (4–8 h), a development
// session (24 h), a weekly batch job (168 h) and a long-running service
// (720 h). They become CreateAPIKeyInput.durationHours.

/** DURATION_PRESETS are the preset lifetimes in hours, in the order the chips show them. */
export const DURATION_PRESETS: readonly number[] = [1, 2, 3, 4, 8, 24, 168, 720];

/** DEFAULT_DURATION_HOURS is the preset selected when the dialog opens. */
export const DEFAULT_DURATION_HOURS = 24;

/** MAX_DURATION_HOURS is the longest lifetime the API accepts (ten years). */
export const MAX_DURATION_HOURS = 87_600;

/** presetLabel names a preset chip: "1 h", "8 h", "168 h (7 days)". */
export function presetLabel(hours: number): string {
  if (hours >= 24 && hours % 24 === 0 && hours > 24) return `${hours} h (${hours / 24} days)`;
  return `${hours} h`;
}

/**
 * parseHours reads a custom lifetime typed by the user: a whole number of
 * hours from 1 to MAX_DURATION_HOURS. It returns the hours, or the sentence
 * that says what is wrong.
 */
export function parseHours(text: string): { hours: number } | { error: string } {
  const t = text.trim().replace(/[,_\s]/g, '');
  if (t === '') return { error: 'Enter a number of hours, e.g. 48.' };
  if (!/^\d+$/.test(t)) return { error: 'Hours must be a whole number, e.g. 48.' };
  const n = Number(t);
  if (n < 1 || n > MAX_DURATION_HOURS) return { error: `Hours must be between 1 and ${MAX_DURATION_HOURS.toLocaleString('en-US')} (ten years).` };
  return { hours: n };
}

/** DurationChoice is the picker's state: a preset's hours ("24"), "custom" with the text typed, or "never". */
export interface DurationChoice {
  choice: string;
  custom: string;
}

/** DEFAULT_CHOICE is the picker's state when the dialog opens: 24 hours. */
export const DEFAULT_CHOICE: DurationChoice = { choice: String(DEFAULT_DURATION_HOURS), custom: '' };

/**
 * durationOf returns the durationHours a choice sends (null: the key never
 * expires), or why a custom value cannot be sent.
 */
export function durationOf(c: DurationChoice): { hours: number | null } | { error: string } {
  if (c.choice === 'never') return { hours: null };
  if (c.choice === 'custom') return parseHours(c.custom);
  return { hours: Number(c.choice) };
}

/** GRACE_PRESETS are the rotation grace windows in hours; 24 h is the default. */
export const GRACE_PRESETS: readonly { hours: number; label: string }[] = [
  { hours: 0, label: 'None — the old key stops at once' },
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours (default)' },
  { hours: 72, label: '3 days' },
  { hours: 168, label: '7 days' },
];
