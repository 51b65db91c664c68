import { useMutation, useQuery } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { describeError } from '../api/errors';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { EmptyState, ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { Modal } from '../components/Modal';
import { graphql } from '../gql';
import type { MembershipRole } from '../gql/graphql';
import { formatDateTime } from '../lib/format';

const WorkspaceSecurity = graphql(`
  query WorkspaceSecurity($id: ID!) {
    viewer {
      id
      mfaEnabled
    }
    workspace(id: $id) {
      id
      viewerRole
      requireMFA
      serviceTokens {
        id
        name
        role
        status
        createdAt
        expiresAt
        lastUsedAt
        createdByID
      }
    }
  }
`);

const SetRequireMFA = graphql(`
  mutation SetWorkspaceRequireMFA($id: ID!, $required: Boolean!) {
    setWorkspaceRequireMFA(workspaceID: $id, required: $required) {
      id
      requireMFA
    }
  }
`);

const CreateServiceToken = graphql(`
  mutation CreateServiceToken($input: CreateServiceTokenInput!) {
    createServiceToken(input: $input) {
      token
      serviceToken {
        id
        name
        role
      }
    }
  }
`);

const RevokeServiceToken = graphql(`
  mutation RevokeServiceToken($id: ID!) {
    revokeServiceToken(id: $id) {
      id
      status
    }
  }
`);

const ROLES: MembershipRole[] = ['OWNER', 'ADMIN', 'DEVELOPER', 'VIEWER'];
const RANK: Record<MembershipRole, number> = { OWNER: 4, ADMIN: 3, DEVELOPER: 2, VIEWER: 1 };

/** WorkspaceSecurityPage: the workspace's two-factor requirement and its service tokens for automation. */
export default function WorkspaceSecurityPage() {
  const { workspaceID = '' } = useParams();
  const { data, loading, error, refetch } = useQuery(WorkspaceSecurity, { variables: { id: workspaceID } });
  const [setRequired, setState] = useMutation(SetRequireMFA);
  const [revoke, revokeState] = useMutation(RevokeServiceToken);
  const [creating, setCreating] = useState(false);
  const [revoking, setRevoking] = useState<{ id: string; name: string } | null>(null);
  if (error) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const ws = data?.workspace;
  if (!ws) return null;
  const owner = ws.viewerRole === 'OWNER';
  return (
    <div className="page">
      <PageHeader title="Security" description="Two-factor sign-in for members, and service tokens for automation (CI, Terraform, scripts)." />
      <section className="card" aria-labelledby="require-mfa-heading">
        <h2 id="require-mfa-heading">Require two-factor sign-in</h2>
        <p className="muted">
          Members without it can still sign in, but this workspace stays closed to them until they turn it on under Account
          security.
        </p>
        <label className="checkbox-row">
          <input
            type="checkbox"
            checked={ws.requireMFA}
            disabled={!owner || setState.loading}
            onChange={(e) => setRequired({ variables: { id: ws.id, required: e.target.checked } }).catch(() => undefined)}
          />{' '}
          Members must use two-factor sign-in
        </label>
        {!owner && <p className="small muted">Only owners change this.</p>}
        {owner && !data.viewer.mfaEnabled && !ws.requireMFA && (
          <p className="small muted">Turn on two-factor sign-in for your own account first.</p>
        )}
        {setState.error && (
          <p className="form-error" role="alert">
            {describeError(setState.error)}
          </p>
        )}
      </section>

      <section className="card" aria-labelledby="tokens-heading">
        <div className="card-header">
          <h2 id="tokens-heading">Service tokens</h2>
          <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
            + New service token
          </button>
        </div>
        <p className="muted">
          Send one as <code>Authorization: Bearer oais_st_…</code> to <code>/graphql</code>. It acts only in this workspace, with
          its role (never more than its creator's), until revoked or expired.
        </p>
        {revokeState.error && (
          <p className="form-error" role="alert">
            {describeError(revokeState.error)}
          </p>
        )}
        {ws.serviceTokens.length === 0 ? (
          <EmptyState title="No service tokens yet" />
        ) : (
          <table className="table" aria-label="Service tokens">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Role</th>
                <th scope="col">Status</th>
                <th scope="col">Created</th>
                <th scope="col">Expires</th>
                <th scope="col">Last used</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {ws.serviceTokens.map((t) => (
                <tr key={t.id}>
                  <td>{t.name}</td>
                  <td>{t.role.toLowerCase()}</td>
                  <td>{t.status.toLowerCase()}</td>
                  <td>{formatDateTime(t.createdAt)}</td>
                  <td>{formatDateTime(t.expiresAt, 'Never')}</td>
                  <td>{formatDateTime(t.lastUsedAt, 'Never')}</td>
                  <td>
                    {t.status === 'ACTIVE' && (
                      <button type="button" className="button button-ghost button-small" aria-label={`Revoke ${t.name}`} onClick={() => setRevoking(t)}>
                        Revoke
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
      <NewServiceTokenDialog
        open={creating}
        onOpenChange={setCreating}
        workspaceID={ws.id}
        maxRole={ws.viewerRole as MembershipRole}
        onCreated={() => refetch()}
      />
      <ConfirmDialog
        open={revoking !== null}
        onOpenChange={(o) => !o && setRevoking(null)}
        title={`Revoke ${revoking?.name ?? ''}?`}
        description="Whatever uses it stops working at once. This cannot be undone."
        confirmLabel="Revoke token"
        onConfirm={async () => {
          if (revoking) await revoke({ variables: { id: revoking.id } });
          setRevoking(null);
        }}
      />
    </div>
  );
}

function NewServiceTokenDialog({
  open,
  onOpenChange,
  workspaceID,
  maxRole,
  onCreated,
}: {
  open: boolean;
  onOpenChange(o: boolean): void;
  workspaceID: string;
  maxRole: MembershipRole;
  onCreated(): void;
}) {
  const [name, setName] = useState('');
  const [role, setRole] = useState<MembershipRole>('VIEWER');
  const [expires, setExpires] = useState('');
  const [create, { data, loading, error, reset }] = useMutation(CreateServiceToken);
  const token = data?.createServiceToken.token;
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const res = await create({
      variables: { input: { workspaceID, name: name.trim(), role, expiresAt: expires ? new Date(expires).toISOString() : null } },
    }).catch(() => null);
    if (res?.data) onCreated();
  };
  const close = (o: boolean) => {
    if (!o) {
      reset();
      setName('');
      setExpires('');
    }
    onOpenChange(o);
  };
  return (
    <Modal open={open} onOpenChange={close} title="New service token" description="A bearer token for automation in this workspace.">
      {token ? (
        <div className="secret">
          <div className="banner banner-warning" role="note">
            <strong>Copy it now — you will not see this token again.</strong> oais keeps only a one-way hash.
          </div>
          <label className="field-label" htmlFor="service-token-value">
            Your new service token
          </label>
          <input id="service-token-value" className="input secret-value" readOnly value={token} onFocus={(e) => e.currentTarget.select()} />
          <div className="dialog-actions">
            <button type="button" className="button button-primary" onClick={() => close(false)}>
              I've stored it
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={submit}>
          <div className="field">
            <label className="field-label" htmlFor="st-name">
              Name
            </label>
            <input id="st-name" className="input" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. terraform" required maxLength={100} />
          </div>
          <div className="field">
            <label className="field-label" htmlFor="st-role">
              Role
            </label>
            <select id="st-role" className="input" value={role} onChange={(e) => setRole(e.target.value as MembershipRole)}>
              {ROLES.filter((r) => RANK[r] <= RANK[maxRole]).map((r) => (
                <option key={r} value={r}>
                  {r.toLowerCase()}
                </option>
              ))}
            </select>
            <span className="field-hint">At most your own role here.</span>
          </div>
          <div className="field">
            <label className="field-label" htmlFor="st-expires">
              Expires (optional)
            </label>
            <input id="st-expires" className="input" type="datetime-local" value={expires} onChange={(e) => setExpires(e.target.value)} />
          </div>
          {error && (
            <p className="form-error" role="alert">
              {describeError(error)}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" className="button button-secondary" onClick={() => close(false)}>
              Cancel
            </button>
            <button type="submit" className="button button-primary" disabled={loading || !name.trim()}>
              {loading ? 'Creating…' : 'Create token'}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
