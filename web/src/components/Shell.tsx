import { useMutation, useQuery } from '@apollo/client';
import * as DropdownMenu from '@radix-ui/react-dropdown-menu';
import { useState, type FormEvent } from 'react';
import { NavLink, Outlet, useNavigate, useParams } from 'react-router';
import { describeError } from '../api/errors';
import { useSession } from '../api/session';
import { graphql } from '../gql';
import { ErrorBanner, Loading } from './Feedback';
import { Modal } from './Modal';

const SendVerificationEmail = graphql(`
  mutation ShellSendVerificationEmail {
    sendVerificationEmail
  }
`);

/** ShellViewer loads who is signed in and the workspaces they belong to. */
export const ShellViewer = graphql(`
  query ShellViewer {
    viewer {
      id
      email
      emailVerified
      mfaRequired
      siteAdmin
      memberships {
        id
        role
        workspace {
          id
          name
        }
      }
    }
  }
`);

const CreateWorkspace = graphql(`
  mutation CreateWorkspace($input: CreateWorkspaceInput!) {
    createWorkspace(input: $input) {
      id
      name
    }
  }
`);

const NAV = [
  { to: 'keys', label: 'API keys' },
  { to: 'all-keys', label: 'All keys' },
  { to: 'usage', label: 'Usage' },
  { to: 'logs', label: 'Logs' },
  { to: 'limits', label: 'Limits' },
  { to: 'channels', label: 'Channels' },
  { to: 'billing', label: 'Billing' },
  { to: 'members', label: 'Members' },
  { to: 'audit', label: 'Audit log' },
  { to: 'security', label: 'Security' },
  { to: 'groups', label: 'Groups' },
  { to: 'gateways', label: 'Gateways' },
];

/** Shell is the signed-in layout: workspace switcher, navigation and the page. */
export function Shell() {
  const { workspaceID } = useParams();
  const { data, loading, error, refetch } = useQuery(ShellViewer);
  const [creating, setCreating] = useState(false);
  const memberships = data?.viewer.memberships ?? [];
  const current = memberships.find((m) => m.workspace.id === workspaceID);

  return (
    <div className="shell">
      <aside className="sidebar">
        <div className="brand">
          <span className="brand-mark" aria-hidden="true">
            o
          </span>
          <span className="brand-name">oais</span>
        </div>
        <WorkspaceSwitcher
          currentName={current?.workspace.name ?? (loading ? 'Loading…' : 'Choose a workspace')}
          memberships={memberships}
          onNew={() => setCreating(true)}
        />
        {workspaceID && (
          <nav className="nav" aria-label="Workspace">
            {NAV.map((n) => (
              <NavLink key={n.to} to={`/w/${workspaceID}/${n.to}`} className={({ isActive }) => `nav-link${isActive ? ' active' : ''}`}>
                {n.label}
              </NavLink>
            ))}
          </nav>
        )}
        <UserMenu email={data?.viewer.email} />
      </aside>
      <main className="main" id="main">
        {data && !data.viewer.emailVerified && <ConfirmAddress email={data.viewer.email} />}
        {data?.viewer.mfaRequired && (
          <div className="banner banner-info" role="status">
            A workspace you belong to requires two-factor sign-in; it stays hidden until you turn it on.{' '}
            <NavLink to="/security">Set up two-factor sign-in</NavLink>
          </div>
        )}
        {error ? (
          <ErrorBanner error={error} onRetry={() => refetch()} />
        ) : loading && !data ? (
          <Loading />
        ) : workspaceID && !current ? (
          <div className="card">
            <h1>Workspace not found</h1>
            <p className="muted">It doesn't exist, or you are not a member of it. Pick another workspace from the switcher.</p>
          </div>
        ) : (
          <Outlet />
        )}
      </main>
      <NewWorkspaceDialog open={creating} onOpenChange={setCreating} />
    </div>
  );
}

/** ConfirmAddress reminds an unconfirmed account to open its link: without it, invitations cannot be accepted. */
function ConfirmAddress({ email }: { email: string }) {
  const [send, { loading, data, error }] = useMutation(SendVerificationEmail);
  return (
    <div className="banner banner-info" role="status">
      Confirm your e-mail address: open the link we sent to {email}. Until then, this account cannot accept invitations.{' '}
      <button type="button" className="button button-ghost button-small" disabled={loading || !!data} onClick={() => send().catch(() => undefined)}>
        {data ? 'Link sent' : 'Send a new link'}
      </button>
      {error && <span className="form-error"> {describeError(error)}</span>}
    </div>
  );
}

function WorkspaceSwitcher({
  currentName,
  memberships,
  onNew,
}: {
  currentName: string;
  memberships: readonly { id: string; role: string; workspace: { id: string; name: string } }[];
  onNew(): void;
}) {
  const navigate = useNavigate();
  return (
    <DropdownMenu.Root>
      <DropdownMenu.Trigger className="switcher" aria-label={`Workspace: ${currentName}. Switch workspace`}>
        <span className="switcher-label">Workspace</span>
        <span className="switcher-name">{currentName}</span>
        <span aria-hidden="true" className="switcher-caret">
          ▾
        </span>
      </DropdownMenu.Trigger>
      <DropdownMenu.Portal>
        <DropdownMenu.Content className="menu" align="start" sideOffset={6}>
          {memberships.map((m) => (
            <DropdownMenu.Item key={m.id} className="menu-item" onSelect={() => navigate(`/w/${m.workspace.id}/keys`)}>
              <span>{m.workspace.name}</span>
              <span className="menu-meta">{m.role.toLowerCase()}</span>
            </DropdownMenu.Item>
          ))}
          {memberships.length > 0 && <DropdownMenu.Separator className="menu-sep" />}
          <DropdownMenu.Item className="menu-item" onSelect={onNew}>
            + New workspace
          </DropdownMenu.Item>
        </DropdownMenu.Content>
      </DropdownMenu.Portal>
    </DropdownMenu.Root>
  );
}

function UserMenu({ email }: { email?: string }) {
  const session = useSession();
  const navigate = useNavigate();
  return (
    <div className="user">
      <DropdownMenu.Root>
        <DropdownMenu.Trigger className="user-trigger" aria-label="Account menu">
          <span className="avatar" aria-hidden="true">
            {(email ?? '?').charAt(0).toUpperCase()}
          </span>
          <span className="user-email">{email ?? ''}</span>
        </DropdownMenu.Trigger>
        <DropdownMenu.Portal>
          <DropdownMenu.Content className="menu" side="top" align="start" sideOffset={6}>
            <DropdownMenu.Label className="menu-label">{email}</DropdownMenu.Label>
            <DropdownMenu.Item className="menu-item" onSelect={() => navigate('/security')}>
              Account security
            </DropdownMenu.Item>
            <DropdownMenu.Item
              className="menu-item"
              onSelect={async () => {
                await session.end();
                navigate('/signin', { replace: true });
              }}
            >
              Sign out
            </DropdownMenu.Item>
          </DropdownMenu.Content>
        </DropdownMenu.Portal>
      </DropdownMenu.Root>
    </div>
  );
}

/** NewWorkspaceDialog asks for a name and creates a workspace owned by the viewer. */
export function NewWorkspaceDialog({ open, onOpenChange }: { open: boolean; onOpenChange(o: boolean): void }) {
  const navigate = useNavigate();
  const [name, setName] = useState('');
  const [create, { loading, error, reset }] = useMutation(CreateWorkspace, { refetchQueries: [ShellViewer], awaitRefetchQueries: true });
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!name.trim()) return;
    const res = await create({ variables: { input: { name: name.trim() } } }).catch(() => null);
    const ws = res?.data?.createWorkspace;
    if (ws) {
      setName('');
      onOpenChange(false);
      navigate(`/w/${ws.id}/keys`);
    }
  };
  return (
    <Modal
      open={open}
      onOpenChange={(o) => {
        if (!o) reset();
        onOpenChange(o);
      }}
      title="New workspace"
      description="A workspace has its own keys, limits, billing and members. You will be its owner."
    >
      <form onSubmit={submit} className="form">
        <div className="field">
          <label className="field-label" htmlFor="ws-name">
            Workspace name
          </label>
          <input id="ws-name" className="input" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. payments-prod" required autoFocus maxLength={100} />
        </div>
        {error && (
          <p className="form-error" role="alert">
            {describeError(error)}
          </p>
        )}
        <div className="dialog-actions">
          <button type="button" className="button button-secondary" onClick={() => onOpenChange(false)}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={loading || !name.trim()}>
            {loading ? 'Creating…' : 'Create workspace'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
