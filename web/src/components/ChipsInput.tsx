import { useId, useState, type KeyboardEvent } from 'react';

/** ChipsInputProps configure a list-of-strings field. */
export interface ChipsInputProps {
  label: string;
  values: string[];
  onChange(values: string[]): void;
  placeholder?: string;
  hint?: string;
  /** validate returns an error message for a bad entry, or null. */
  validate?(value: string): string | null;
}

/**
 * ChipsInput collects strings: Enter or a comma turns the text into a chip,
 * Backspace on an empty field removes the last one.
 */
export function ChipsInput({ label, values, onChange, placeholder, hint, validate }: ChipsInputProps) {
  const id = useId();
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const commit = (raw: string) => {
    const parts = raw
      .split(/[,\s]+/)
      .map((p) => p.trim())
      .filter(Boolean);
    const next = [...values];
    for (const p of parts) {
      const bad = validate?.(p);
      if (bad) {
        setError(bad);
        setText(p);
        onChange(next);
        return;
      }
      if (!next.includes(p)) next.push(p);
    }
    setError(null);
    setText('');
    onChange(next);
  };
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    if (e.key === 'Enter' || e.key === ',') {
      e.preventDefault();
      if (text.trim()) commit(text);
    } else if (e.key === 'Backspace' && !text && values.length) {
      onChange(values.slice(0, -1));
    }
  };
  return (
    <div className="field">
      <label className="field-label" htmlFor={id}>
        {label}
      </label>
      <div className="chips-box">
        <ul className="chips">
          {values.map((v) => (
            <li key={v} className="chip chip-plain">
              {v}
              <button type="button" className="chip-remove" aria-label={`Remove ${v}`} onClick={() => onChange(values.filter((x) => x !== v))}>
                ×
              </button>
            </li>
          ))}
        </ul>
        <input
          id={id}
          className="chips-input"
          value={text}
          placeholder={values.length ? '' : placeholder}
          onChange={(e) => setText(e.target.value)}
          onKeyDown={onKeyDown}
          onBlur={() => text.trim() && commit(text)}
          aria-describedby={`${id}-hint`}
          aria-invalid={error ? true : undefined}
        />
      </div>
      <span id={`${id}-hint`} className={error ? 'field-error' : 'field-hint'}>
        {error ?? hint}
      </span>
    </div>
  );
}
