import { useState } from 'react';

/**
 * SecretReveal shows a freshly minted key exactly once, with a copy button
 * and the warning that it cannot be shown again.
 */
export function SecretReveal({ secret, note }: { secret: string; note?: string }) {
  const [copied, setCopied] = useState(false);
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(secret);
      setCopied(true);
    } catch {
      // Clipboard access can be refused (http, permissions); select the text instead.
      const el = document.getElementById('secret-value') as HTMLInputElement | null;
      el?.select();
    }
  };
  return (
    <div className="secret">
      <div className="banner banner-warning" role="note">
        <strong>Copy it now — you will not see this key again.</strong> Store it in your secret manager; oais keeps only a
        one-way hash.
      </div>
      <label className="field-label" htmlFor="secret-value">
        Your new API key
      </label>
      <div className="secret-row">
        <input
          id="secret-value"
          className="input secret-value"
          readOnly
          value={secret}
          spellCheck={false}
          onFocus={(e) => e.currentTarget.select()}
        />
        <button type="button" className="button button-primary" onClick={copy}>
          {copied ? 'Copied' : 'Copy'}
        </button>
      </div>
      <span className="visually-hidden" aria-live="polite">
        {copied ? 'Key copied to the clipboard' : ''}
      </span>
      {note && <p className="muted small">{note}</p>}
    </div>
  );
}
