import { useMutation, useQuery } from '@apollo/client';
import { useState } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { ConfirmDialog } from './ConfirmDialog';
import { useToast } from './Toast';

const WorkspaceActive = graphql(`
  query WorkspaceActive($workspaceID: ID!) {
    workspace(id: $workspaceID) {
      id
      name
      active
      viewerRole
    }
  }
`);

/** SetWorkspaceActive switches a workspace off or on (owners only). */
export const SetWorkspaceActive = graphql(`
  mutation SetWorkspaceActive($workspaceID: ID!, $active: Boolean!) {
    setWorkspaceActive(workspaceID: $workspaceID, active: $active) {
      id
      active
    }
  }
`);

/**
 * WorkspaceActiveCard shows whether the workspace is active and lets its
 * owners switch it off (with a confirmation: every key stops at once) or on
 * again. An inactive workspace generates no keys (“Cannot generate tokens
 * for inactive workspace”) and its keys get 403 workspace_inactive.
 */
export function WorkspaceActiveCard({ workspaceID }: { workspaceID: string }) {
  const toast = useToast();
  const { data } = useQuery(WorkspaceActive, { variables: { workspaceID } });
  const [set, { loading }] = useMutation(SetWorkspaceActive, { refetchQueries: 'active' });
  const [confirming, setConfirming] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const ws = data?.workspace;
  if (!ws) return null;
  const owner = ws.viewerRole === 'OWNER';
  const change = async (active: boolean) => {
    setError(null);
    await set({ variables: { workspaceID, active } });
    toast({
      tone: 'success',
      title: active ? `Activated “${ws.name}”` : `Deactivated “${ws.name}”`,
      description: active ? 'Its keys work again on every gateway.' : 'Every gateway now refuses its keys.',
    });
  };
  return (
    <section className="card form form-narrow" aria-labelledby="ws-active-h">
      <h2 id="ws-active-h">Workspace status</h2>
      <p>
        This workspace is <strong>{ws.active ? 'active' : 'inactive'}</strong>.{' '}
        {ws.active
          ? 'Its keys are accepted by every gateway.'
          : 'Every gateway refuses its keys (403 workspace_inactive) and no key can be generated until an owner activates it.'}
      </p>
      {error && (
        <p className="form-error" role="alert">
          {error}
        </p>
      )}
      {owner ? (
        <div className="form-actions">
          {ws.active ? (
            <button type="button" className="button button-danger-outline" onClick={() => setConfirming(true)}>
              Deactivate workspace
            </button>
          ) : (
            <button
              type="button"
              className="button button-primary"
              disabled={loading}
              onClick={() => change(true).catch((err) => setError(describeError(err)))}
            >
              {loading ? 'Activating…' : 'Activate workspace'}
            </button>
          )}
        </div>
      ) : (
        <p className="muted small">Only owners can deactivate or activate the workspace.</p>
      )}
      <ConfirmDialog
        open={confirming}
        onOpenChange={setConfirming}
        title={`Deactivate “${ws.name}”?`}
        description={
          <>
            <p>
              Every key of this workspace stops working at once: requests get <code>403 workspace_inactive</code>. No key can be generated while
              it is inactive.
            </p>
            <p>Nothing is deleted: activate it again to resume.</p>
          </>
        }
        confirmLabel="Deactivate workspace"
        onConfirm={() => change(false)}
      />
    </section>
  );
}
