import { useMutation, useQuery } from '@apollo/client';
import { useEffect, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { formatCount } from '../lib/format';
import { useToast } from './Toast';

const KeyLimit = graphql(`
  query KeyLimit($workspaceID: ID!) {
    viewer {
      id
      siteAdmin
    }
    workspace(id: $workspaceID) {
      id
      name
      maxKeys
    }
  }
`);

/** SetWorkspaceKeyLimit sets how many live keys a workspace may have (site admins only). */
export const SetWorkspaceKeyLimit = graphql(`
  mutation SetWorkspaceKeyLimit($workspaceID: ID!, $maxKeys: Int!) {
    setWorkspaceKeyLimit(workspaceID: $workspaceID, maxKeys: $maxKeys) {
      id
      maxKeys
    }
  }
`);

/** MAX_KEY_LIMIT is internal/workspaces.MaxKeyLimit: change both together. */
export const MAX_KEY_LIMIT = 100_000;

/** validateKeyLimit returns why the text is not an acceptable key limit, or null. */
export function validateKeyLimit(text: string): string | null {
  const t = text.trim().replace(/[,_\s]/g, '');
  if (!/^\d+$/.test(t) || Number(t) < 1) return 'The key limit must be a whole number, at least 1.';
  if (Number(t) > MAX_KEY_LIMIT) return `The key limit can be at most ${formatCount(MAX_KEY_LIMIT)}.`;
  return null;
}

/**
 * KeyLimitCard shows how many live keys the workspace may have (seed 001 "Key
 * limit reached") and lets a site admin change it.
 */
export function KeyLimitCard({ workspaceID }: { workspaceID: string }) {
  const toast = useToast();
  const { data } = useQuery(KeyLimit, { variables: { workspaceID } });
  const [set, { loading }] = useMutation(SetWorkspaceKeyLimit);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);
  const ws = data?.workspace;
  useEffect(() => {
    if (ws) setText(String(ws.maxKeys));
  }, [ws]);
  if (!ws) return null;
  const admin = !!data?.viewer.siteAdmin;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const msg = validateKeyLimit(text);
    setError(msg);
    if (msg) return;
    try {
      const n = Number(text.trim().replace(/[,_\s]/g, ''));
      await set({ variables: { workspaceID, maxKeys: n } });
      toast({ tone: 'success', title: `Key limit set to ${formatCount(n)}` });
    } catch (err) {
      setError(describeError(err));
    }
  };
  return (
    <form className="card form form-narrow" aria-labelledby="key-limit-h" onSubmit={submit} noValidate>
      <h2 id="key-limit-h">Key limit</h2>
      <p>
        This workspace may have <strong>{formatCount(ws.maxKeys)}</strong> live keys (revoked and deleted keys do not count). Generating one more fails
        with “key limit reached”.
      </p>
      {admin ? (
        <>
          <div className="field">
            <label className="field-label" htmlFor="max-keys">
              Maximum live keys
            </label>
            <input
              id="max-keys"
              className="input"
              inputMode="numeric"
              value={text}
              onChange={(e) => setText(e.target.value)}
              aria-invalid={!!error}
              aria-describedby={error ? 'max-keys-error' : undefined}
            />
            {error && (
              <p id="max-keys-error" className="form-error" role="alert">
                {error}
              </p>
            )}
          </div>
          <div className="form-actions">
            <button type="submit" className="button button-primary" disabled={loading}>
              {loading ? 'Saving…' : 'Save key limit'}
            </button>
          </div>
        </>
      ) : (
        <p className="muted small">Only site administrators can change the key limit.</p>
      )}
    </form>
  );
}
