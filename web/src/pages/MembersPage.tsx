import { useMutation, useQuery } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { useNavigate, useParams } from 'react-router';
import { describeError } from '../api/errors';
import { Checkbox } from '../components/Checkbox';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { SelectField } from '../components/SelectField';
import { ShellViewer } from '../components/Shell';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import type { MembershipRole } from '../gql/graphql';
import { formatCompact } from '../lib/format';

/** MembersPageQuery loads the workspace's members and the viewer's role in it. */
export const MembersPageQuery = graphql(`
  query MembersPage($workspaceID: ID!) {
    viewer {
      id
    }
    workspace(id: $workspaceID) {
      id
      name
      viewerRole
      memberships(first: 200, orderBy: { field: CREATED_AT, direction: ASC }) {
        totalCount
        edges {
          node {
            id
            role
            createdAt
            user {
              id
              email
              name
            }
          }
        }
      }
      invitations {
        id
        email
        role
        status
        expiresAt
        sentAt
      }
    }
  }
`);

const InviteMember = graphql(`
  mutation InviteMember($workspaceID: ID!, $email: String!, $role: MembershipRole!) {
    inviteMember(workspaceID: $workspaceID, email: $email, role: $role) {
      id
      email
      role
      status
    }
  }
`);

const ResendInvitation = graphql(`
  mutation ResendInvitation($id: ID!) {
    resendInvitation(id: $id) {
      id
      status
      expiresAt
      sentAt
    }
  }
`);

const RevokeInvitation = graphql(`
  mutation RevokeInvitation($id: ID!) {
    revokeInvitation(id: $id) {
      id
      status
    }
  }
`);

const UpdateMemberRole = graphql(`
  mutation UpdateMemberRole($membershipID: ID!, $role: MembershipRole!) {
    updateMemberRole(membershipID: $membershipID, role: $role) {
      id
      role
    }
  }
`);

/** RemoveMember takes a member out; revokeKeys also revokes the API keys they created there. */
export const RemoveMember = graphql(`
  mutation RemoveMember($membershipID: ID!, $revokeKeys: Boolean) {
    removeMember(membershipID: $membershipID, revokeKeys: $revokeKeys)
  }
`);

const ROLES: { value: MembershipRole; label: string; help: string }[] = [
  { value: 'OWNER', label: 'Owner', help: 'Everything, including billing and deleting members' },
  { value: 'ADMIN', label: 'Admin', help: 'Keys, limits, billing and members' },
  { value: 'DEVELOPER', label: 'Developer', help: 'Generate and manage keys, see usage' },
  { value: 'VIEWER', label: 'Viewer', help: 'Read-only' },
];

/** MembersPage lists who belongs to the workspace and manages invitations and roles. */
export default function MembersPage() {
  const { workspaceID = '' } = useParams();
  const navigate = useNavigate();
  const toast = useToast();
  const { data, loading, error, refetch } = useQuery(MembersPageQuery, { variables: { workspaceID } });
  const [invite, { loading: inviting }] = useMutation(InviteMember, { refetchQueries: [MembersPageQuery] });
  const [updateRole] = useMutation(UpdateMemberRole);
  const [remove] = useMutation(RemoveMember);
  const [resend] = useMutation(ResendInvitation);
  const [revoke] = useMutation(RevokeInvitation, { refetchQueries: [MembersPageQuery] });
  const [email, setEmail] = useState('');
  const [role, setRole] = useState<MembershipRole>('DEVELOPER');
  const [inviteError, setInviteError] = useState<string | null>(null);
  const [removing, setRemoving] = useState<{ id: string; email: string; self: boolean } | null>(null);
  const [revokeKeys, setRevokeKeys] = useState(false);

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const ws = data?.workspace;
  if (!ws) return null;
  const members = (ws.memberships.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  const invitations = ws.invitations;
  const canManage = ws.viewerRole === 'OWNER' || ws.viewerRole === 'ADMIN';
  const me = data?.viewer.id;

  const submitInvite = async (e: FormEvent) => {
    e.preventDefault();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(email.trim())) {
      setInviteError('Enter a full e-mail address, such as dev@example.com.');
      return;
    }
    setInviteError(null);
    try {
      await invite({ variables: { workspaceID, email: email.trim(), role } });
      toast({
        tone: 'success',
        title: `Invitation sent to ${email.trim()}`,
        description: `They join as ${role.toLowerCase()} once they accept it, signed in with that address.`,
      });
      setEmail('');
    } catch (err) {
      setInviteError(describeError(err));
    }
  };

  return (
    <div className="page">
      <PageHeader title="Members" description={`People who can sign in to ${ws.name}, and what they may do.`} />
      {canManage && (
        <form className="card form invite" onSubmit={submitInvite} noValidate aria-label="Invite a member">
          <div className="field invite-email">
            <label className="field-label" htmlFor="invite-email">
              Invite by e-mail
            </label>
            <input id="invite-email" className="input" type="email" placeholder="dev@example.com" value={email} onChange={(e) => setEmail(e.target.value)} />
          </div>
          <SelectField label="Role" value={role} onChange={(v) => setRole(v as MembershipRole)} options={ROLES.map((r) => ({ value: r.value, label: r.label }))} className="invite-role" />
          <button type="submit" className="button button-primary invite-button" disabled={inviting}>
            {inviting ? 'Inviting…' : 'Invite'}
          </button>
          {inviteError && (
            <p className="form-error invite-error" role="alert">
              {inviteError}
            </p>
          )}
        </form>
      )}
      <div className="table-wrap card card-flush">
        <table className="table" aria-label="Members">
          <thead>
            <tr>
              <th scope="col">Member</th>
              <th scope="col">Role</th>
              <th scope="col">Joined</th>
              <th scope="col" className="col-actions">
                <span className="visually-hidden">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.map((m) => {
              const self = m.user.id === me;
              return (
                <tr key={m.id}>
                  <td>
                    <div className="strong">{m.user.name || m.user.email}</div>
                    {m.user.name && <div className="muted small">{m.user.email}</div>}
                    {self && <span className="tag">You</span>}
                  </td>
                  <td>
                    {canManage ? (
                      <SelectField
                        label={`Role of ${m.user.email}`}
                        hideLabel
                        value={m.role}
                        options={ROLES.map((r) => ({ value: r.value, label: r.label }))}
                        onChange={async (v) => {
                          try {
                            await updateRole({ variables: { membershipID: m.id, role: v as MembershipRole } });
                            toast({ tone: 'success', title: `${m.user.email} is now ${v.toLowerCase()}` });
                          } catch (err) {
                            toast({ tone: 'error', title: 'Could not change the role', description: describeError(err) });
                          }
                        }}
                      />
                    ) : (
                      ROLES.find((r) => r.value === m.role)?.label ?? m.role
                    )}
                  </td>
                  <td>{formatCompact(m.createdAt)}</td>
                  <td className="col-actions">
                    {(canManage || self) && (
                      <button
                        type="button"
                        className="button button-ghost button-small danger-text"
                        onClick={() => {
                          setRevokeKeys(false);
                          setRemoving({ id: m.id, email: m.user.email, self });
                        }}
                      >
                        {self ? 'Leave' : 'Remove'}
                      </button>
                    )}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
      </div>
      {canManage && invitations.length > 0 && (
        <div className="table-wrap card card-flush">
          <table className="table" aria-label="Pending invitations">
            <thead>
              <tr>
                <th scope="col">Invited</th>
                <th scope="col">Role</th>
                <th scope="col">Link</th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {invitations.map((inv) => (
                <tr key={inv.id}>
                  <td>
                    <div className="strong">{inv.email}</div>
                    <span className="tag">{inv.status === 'EXPIRED' ? 'Expired' : 'Pending'}</span>
                  </td>
                  <td>{ROLES.find((r) => r.value === inv.role)?.label ?? inv.role}</td>
                  <td className="muted small">
                    {inv.status === 'EXPIRED' ? 'expired' : 'works until'} {formatCompact(inv.expiresAt)}; sent {formatCompact(inv.sentAt)}
                  </td>
                  <td className="col-actions">
                    <button
                      type="button"
                      className="button button-ghost button-small"
                      aria-label={`Resend the invitation to ${inv.email}`}
                      onClick={async () => {
                        try {
                          await resend({ variables: { id: inv.id } });
                          toast({ tone: 'success', title: `Invitation sent to ${inv.email} again`, description: 'The earlier link no longer works.' });
                        } catch (err) {
                          toast({ tone: 'error', title: 'Could not resend the invitation', description: describeError(err) });
                        }
                      }}
                    >
                      Resend
                    </button>
                    <button
                      type="button"
                      className="button button-ghost button-small danger-text"
                      aria-label={`Revoke the invitation to ${inv.email}`}
                      onClick={async () => {
                        try {
                          await revoke({ variables: { id: inv.id } });
                          toast({ tone: 'success', title: `Invitation to ${inv.email} revoked` });
                        } catch (err) {
                          toast({ tone: 'error', title: 'Could not revoke the invitation', description: describeError(err) });
                        }
                      }}
                    >
                      Revoke
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      <ConfirmDialog
        open={!!removing}
        onOpenChange={(o) => !o && setRemoving(null)}
        title={removing?.self ? `Leave ${ws.name}?` : `Remove ${removing?.email ?? ''}?`}
        description={
          <>
            <p>{removing?.self ? 'You lose access to this workspace until someone invites you again.' : 'They lose access to this workspace at once.'}</p>
            <div className="checkbox-field">
              <Checkbox
                id="revoke-member-keys"
                label={removing?.self ? 'Also revoke the API keys I created here' : 'Also revoke the API keys they created here'}
                checked={revokeKeys}
                onCheckedChange={setRevokeKeys}
              />
              <label htmlFor="revoke-member-keys">{removing?.self ? 'Also revoke the API keys I created here' : 'Also revoke the API keys they created here'}</label>
            </div>
            <p className="muted small">{revokeKeys ? 'Those keys stop working at once.' : 'Left unchecked, those keys keep working.'}</p>
          </>
        }
        confirmLabel={removing?.self ? 'Leave workspace' : 'Remove member'}
        onConfirm={async () => {
          if (!removing) return;
          await remove({
            variables: { membershipID: removing.id, revokeKeys },
            refetchQueries: removing.self ? [ShellViewer] : [MembersPageQuery],
            awaitRefetchQueries: true,
          });
          toast({ tone: 'success', title: removing.self ? `You left ${ws.name}` : `Removed ${removing.email}${revokeKeys ? ' and revoked their keys' : ''}` });
          if (removing.self) navigate('/', { replace: true });
        }}
      />
    </div>
  );
}
