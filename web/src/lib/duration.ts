// Key lifetimes offered when generating a key, after the product guide's
// recommendations (testing 1–4 h, a dev session 24 h, weekly 168 h, a
// long-running service 720 h).

/** DurationPreset is one choice in the "Expires after" select. */
export interface DurationPreset {
  id: string;
  label: string;
  /** null: the key never expires. */
  hours: number | null;
}

/** DURATION_PRESETS lists the lifetimes in the order the select shows them. */
export const DURATION_PRESETS: readonly DurationPreset[] = [
  { id: '1h', label: '1 hour', hours: 1 },
  { id: '4h', label: '4 hours — testing', hours: 4 },
  { id: '24h', label: '24 hours (default)', hours: 24 },
  { id: '168h', label: '7 days (168 h)', hours: 168 },
  { id: '720h', label: '30 days (720 h)', hours: 720 },
  { id: 'never', label: 'Never expires', hours: null },
];

/** DEFAULT_DURATION is the preset selected when the dialog opens. */
export const DEFAULT_DURATION = '24h';

const HOUR_MS = 3_600_000;

/**
 * expiresAtFor turns a preset into the RFC 3339 `expiresAt` of
 * CreateAPIKeyInput: now + the preset's hours, or null for "never".
 */
export function expiresAtFor(presetId: string, now: Date = new Date()): string | null {
  const preset = DURATION_PRESETS.find((p) => p.id === presetId);
  if (!preset) throw new Error(`unknown duration preset ${presetId}`);
  if (preset.hours === null) return null;
  return new Date(now.getTime() + preset.hours * HOUR_MS).toISOString();
}

/** GRACE_PRESETS are the rotation grace windows in hours; 24 h is the default. */
export const GRACE_PRESETS: readonly { hours: number; label: string }[] = [
  { hours: 0, label: 'None — the old key stops at once' },
  { hours: 1, label: '1 hour' },
  { hours: 24, label: '24 hours (default)' },
  { hours: 72, label: '3 days' },
  { hours: 168, label: '7 days' },
];
