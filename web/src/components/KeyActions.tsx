import { useMutation } from '@apollo/client';
import { useState, type ReactNode } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { GRACE_PRESETS } from '../lib/duration';
import { formatDateTime } from '../lib/format';
import { ConfirmDialog } from './ConfirmDialog';
import { EditKeyDialog } from './EditKeyDialog';
import { DeleteKey, ResetKeyRequests, TopUpDialog, type CreditRef } from './KeyLifecycle';
import { Modal } from './Modal';
import { SecretReveal } from './SecretReveal';
import { SelectField } from './SelectField';
import { useToast } from './Toast';

const UpdateKeyStatus = graphql(`
  mutation UpdateKeyStatus($id: ID!, $status: APIKeyStatus!) {
    updateAPIKey(id: $id, input: { status: $status }) {
      ...KeyRowFields
    }
  }
`);

const RevokeKey = graphql(`
  mutation RevokeKey($id: ID!) {
    revokeAPIKey(id: $id) {
      ...KeyRowFields
    }
  }
`);

const RotateKey = graphql(`
  mutation RotateKey($id: ID!, $graceSeconds: Int) {
    rotateAPIKey(id: $id, graceSeconds: $graceSeconds) {
      secret
      apiKey {
        ...KeyRowFields
      }
    }
  }
`);

/** KeyRef is what an action needs to name a key to the user. */
export interface KeyRef {
  id: string;
  label: string;
  maskedKey: string;
  status: string;
  revokeReason?: string | null;
}

/** KeyActions is what rows and the detail page call; dialogs render from `dialogs`. */
export interface KeyActions {
  revoke(k: KeyRef): void;
  rotate(k: KeyRef): void;
  setStatus(k: KeyRef, status: 'ACTIVE' | 'DISABLED'): Promise<void>;
  /** edit opens the dialog that edits every setting of the key. */
  edit(k: KeyRef): void;
  /** remove asks, then deletes the key for good. */
  remove(k: KeyRef): void;
  /** resetRequests asks, then sets the key's request count back to 0. */
  resetRequests(k: KeyRef): void;
  /** topUp raises the key's credit quota. */
  topUp(k: CreditRef): void;
  dialogs: ReactNode;
}

/** canEnable says whether a key can be switched (back) to ACTIVE from the UI. */
export function canEnable(k: KeyRef): boolean {
  return k.status === 'DISABLED' || (k.status === 'REVOKED' && k.revokeReason !== 'LEAKED' && k.revokeReason !== 'ROTATED');
}

/**
 * useKeyActions wires the per-key mutations to their confirmations and
 * toasts. onDeleted runs after a key is deleted (the detail page leaves).
 */
export function useKeyActions({ onDeleted }: { onDeleted?(k: KeyRef): void } = {}): KeyActions {
  const toast = useToast();
  const [revoking, setRevoking] = useState<KeyRef | null>(null);
  const [rotating, setRotating] = useState<KeyRef | null>(null);
  const [editing, setEditing] = useState<KeyRef | null>(null);
  const [deleting, setDeleting] = useState<KeyRef | null>(null);
  const [resetting, setResetting] = useState<KeyRef | null>(null);
  const [toppingUp, setToppingUp] = useState<CreditRef | null>(null);
  const [updateStatus] = useMutation(UpdateKeyStatus, { refetchQueries: 'active' });
  const [revokeKey] = useMutation(RevokeKey, { refetchQueries: 'active' });
  const [deleteKey] = useMutation(DeleteKey, {
    // The key is gone: drop it from the cache, so no list shows it again.
    update(cache, res) {
      const id = res.data?.deleteAPIKey;
      if (id) {
        cache.evict({ id: cache.identify({ __typename: 'APIKey', id }) });
        cache.gc();
      }
    },
  });
  const [resetKey] = useMutation(ResetKeyRequests);

  const setStatus = async (k: KeyRef, status: 'ACTIVE' | 'DISABLED') => {
    try {
      await updateStatus({ variables: { id: k.id, status } });
      toast({ tone: 'success', title: status === 'ACTIVE' ? `Enabled “${k.label}”` : `Disabled “${k.label}”`, description: status === 'ACTIVE' ? 'Requests with this key are accepted again.' : 'Requests with this key are refused until you enable it.' });
    } catch (err) {
      toast({ tone: 'error', title: 'Could not change the key', description: describeError(err) });
    }
  };

  const dialogs = (
    <>
      <ConfirmDialog
        open={!!revoking}
        onOpenChange={(o) => !o && setRevoking(null)}
        title={`Revoke “${revoking?.label ?? ''}”?`}
        description={
          <>
            <p>
              <code>{revoking?.maskedKey}</code> stops working immediately: every request with it gets <code>401 api_key_revoked</code>.
            </p>
            <p>Deploy a replacement first if something still uses it.</p>
          </>
        }
        confirmLabel="Revoke key"
        onConfirm={async () => {
          if (!revoking) return;
          await revokeKey({ variables: { id: revoking.id } });
          toast({ tone: 'success', title: `Revoked “${revoking.label}”` });
        }}
      />
      <RotateDialog target={rotating} onClose={() => setRotating(null)} />
      <EditKeyDialog keyID={editing?.id ?? null} onClose={() => setEditing(null)} />
      <ConfirmDialog
        open={!!deleting}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete “${deleting?.label ?? ''}”?`}
        description={
          <>
            <p>
              <code>{deleting?.maskedKey}</code> stops working immediately — every request with it gets <code>401 invalid_api_key</code> — and
              leaves this list for good. This cannot be undone.
            </p>
            <p>Its usage stays on the bill, and the audit log keeps who deleted it.</p>
          </>
        }
        confirmLabel="Delete key"
        onConfirm={async () => {
          if (!deleting) return;
          await deleteKey({ variables: { id: deleting.id } });
          toast({ tone: 'success', title: `Deleted “${deleting.label}”` });
          onDeleted?.(deleting);
        }}
      />
      <ConfirmDialog
        open={!!resetting}
        onOpenChange={(o) => !o && setResetting(null)}
        destructive={false}
        title={`Reset the request count of “${resetting?.label ?? ''}”?`}
        description={
          <p>
            Its count goes back to 0, so a key that reached its max requests serves again at once, on every gateway, until it reaches the limit
            anew. Past usage stays in the logs and on the bill.
          </p>
        }
        confirmLabel="Reset count"
        onConfirm={async () => {
          if (!resetting) return;
          await resetKey({ variables: { id: resetting.id } });
          toast({ tone: 'success', title: `Reset “${resetting.label}”`, description: 'Its request count starts again from 0.' });
        }}
      />
      <TopUpDialog target={toppingUp} onClose={() => setToppingUp(null)} />
    </>
  );

  return {
    revoke: setRevoking,
    rotate: setRotating,
    setStatus,
    edit: setEditing,
    remove: setDeleting,
    resetRequests: setResetting,
    topUp: setToppingUp,
    dialogs,
  };
}

function RotateDialog({ target, onClose }: { target: KeyRef | null; onClose(): void }) {
  const [graceHours, setGraceHours] = useState('24');
  const [result, setResult] = useState<{ secret: string; maskedKey: string; graceUntil: string | null } | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [rotate, { loading }] = useMutation(RotateKey, { refetchQueries: 'active' });
  const close = () => {
    setResult(null);
    setError(null);
    setGraceHours('24');
    onClose();
  };
  const grace = Number(graceHours);
  return (
    <Modal
      open={!!target}
      onOpenChange={(o) => !o && close()}
      title={result ? 'Key rotated' : `Rotate “${target?.label ?? ''}”`}
      description={result ? undefined : 'Rotation mints a replacement key with the same settings. Deploy it, verify traffic, and let the old one run out.'}
      dismissible={!result}
    >
      {result ? (
        <div className="form">
          <SecretReveal
            secret={result.secret}
            note={
              grace > 0
                ? `The old key ${target?.maskedKey} keeps working until ${formatDateTime(result.graceUntil ?? new Date(Date.now() + grace * 3_600_000).toISOString())} (the grace window), then stops. Deploy the new key before then.`
                : `The old key ${target?.maskedKey} has stopped working.`
            }
          />
          <div className="dialog-actions">
            <button type="button" className="button button-primary" onClick={close}>
              I've stored it — done
            </button>
          </div>
        </div>
      ) : (
        <div className="form">
          <SelectField label="Grace window for the old key" value={graceHours} onChange={setGraceHours} options={GRACE_PRESETS.map((g) => ({ value: String(g.hours), label: g.label }))} />
          <p className="muted small">During the grace window both keys work, so you can roll the new one out without downtime.</p>
          {error && (
            <p className="form-error" role="alert">
              {error}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" className="button button-secondary" onClick={close}>
              Cancel
            </button>
            <button
              type="button"
              className="button button-primary"
              disabled={loading}
              onClick={async () => {
                if (!target) return;
                setError(null);
                try {
                  const res = await rotate({ variables: { id: target.id, graceSeconds: grace * 3600 } });
                  const p = res.data?.rotateAPIKey;
                  // graceUntil is on the old key; refetch brings it, the estimate covers the gap.
                  if (p) setResult({ secret: p.secret, maskedKey: p.apiKey.maskedKey, graceUntil: null });
                } catch (err) {
                  setError(describeError(err));
                }
              }}
            >
              {loading ? 'Rotating…' : 'Rotate key'}
            </button>
          </div>
        </div>
      )}
    </Modal>
  );
}
