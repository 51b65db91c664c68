import { useId } from 'react';
import { DURATION_PRESETS, presetLabel, type DurationChoice } from '../lib/duration';
import './lifecycle.css';

/**
 * DurationPicker chooses a new key's lifetime: preset chips (native radio
 * buttons, so keyboard and screen readers work as for any radio group), a
 * custom number of hours, or never.
 */
export function DurationPicker({ value, onChange, error }: { value: DurationChoice; onChange(v: DurationChoice): void; error?: string | null }) {
  const id = useId();
  const option = (choice: string, label: string) => (
    <label key={choice} className={`preset${value.choice === choice ? ' preset-on' : ''}`}>
      <input type="radio" name={id} value={choice} checked={value.choice === choice} onChange={() => onChange({ ...value, choice })} />
      {label}
    </label>
  );
  return (
    <fieldset className="field duration-picker" aria-describedby={`${id}-msg`}>
      <legend className="field-label">Expires after</legend>
      <div className="presets">
        {DURATION_PRESETS.map((h) => option(String(h), presetLabel(h)))}
        {option('custom', 'Custom')}
        {option('never', 'Never')}
      </div>
      {value.choice === 'custom' && (
        <div className="custom-hours">
          <input
            className="input"
            inputMode="numeric"
            aria-label="Custom duration in hours"
            placeholder="e.g. 48"
            value={value.custom}
            onChange={(e) => onChange({ ...value, custom: e.target.value })}
            aria-invalid={error ? true : undefined}
            autoFocus
          />
          <span aria-hidden="true">hours</span>
        </div>
      )}
      <span id={`${id}-msg`} className={error ? 'field-error' : 'field-hint'}>
        {error ?? 'Testing: 1–4 h · CI/CD: 4–8 h · a dev session: 24 h · weekly jobs: 168 h · services: 720 h.'}
      </span>
    </fieldset>
  );
}
