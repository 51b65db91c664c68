// Groups' settings as users type them: a multiplier in basis points and
// default limits, checked before the API is asked (it checks again).

/** MAX_MULTIPLIER_BPS mirrors pricing.MaxMultiplierBps (10× list price). */
export const MAX_MULTIPLIER_BPS = 100_000;
const MAX_INT = 2_147_483_647;

/** formatMultiplier renders basis points as a price multiple: 15000 → "1.5× list", 10000 → "list price". */
export function formatMultiplier(bps: number): string {
  if (bps === 10_000) return 'list price';
  const whole = Math.floor(bps / 10_000);
  const frac = String(bps % 10_000).padStart(4, '0').replace(/0+$/, '');
  return `${whole}${frac ? '.' + frac : ''}× list`;
}

/** GroupForm is the text of the new-group form. */
export interface GroupForm {
  name: string;
  bps: string;
  rpm: string;
  tpm: string;
}

/** validateGroupInput returns the createGroup input, or the errors by field. */
export function validateGroupInput(f: GroupForm): {
  input: { name: string; priceMultiplierBps: number; rpm: number; tpm: number } | null;
  errors: Record<string, string>;
} {
  const errors: Record<string, string> = {};
  const name = f.name.trim();
  if (!name) errors.name = 'A name is required, e.g. enterprise.';
  else if ([...name].length > 64) errors.name = 'At most 64 characters.';
  const num = (k: 'bps' | 'rpm' | 'tpm', label: string, max: number): number => {
    const t = f[k].trim().replace(/[,_\s]/g, '');
    if (!/^\d+$/.test(t)) {
      errors[k] = `${label} must be a whole number, 0 or more.`;
      return 0;
    }
    const n = Number(t);
    if (n > max) errors[k] = `${label} can be at most ${max}.`;
    return n;
  };
  const priceMultiplierBps = num('bps', 'The multiplier', MAX_MULTIPLIER_BPS);
  const rpm = num('rpm', 'RPM', MAX_INT);
  const tpm = num('tpm', 'TPM', MAX_INT);
  if (Object.keys(errors).length) return { input: null, errors };
  return { input: { name, priceMultiplierBps, rpm, tpm }, errors };
}
