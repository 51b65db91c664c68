import { useMutation, useQuery } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { describeError } from '../api/errors';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { EmptyState, ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { SelectField } from '../components/SelectField';
import { ShellViewer } from '../components/Shell';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import { formatCount } from '../lib/format';
import { formatMultiplier, validateGroupInput } from '../lib/groups';

const GroupsPageQuery = graphql(`
  query GroupsPage($workspaceID: ID!) {
    groups {
      id
      name
      priceMultiplierBps
      rpm
      tpm
    }
    workspace(id: $workspaceID) {
      id
      group {
        id
        name
      }
    }
  }
`);

const CreateGroup = graphql(`
  mutation CreateGroup($input: CreateGroupInput!) {
    createGroup(input: $input) {
      id
      name
      priceMultiplierBps
      rpm
      tpm
    }
  }
`);

const DeleteGroup = graphql(`
  mutation DeleteGroup($id: ID!) {
    deleteGroup(id: $id)
  }
`);

const SetWorkspaceGroup = graphql(`
  mutation SetWorkspaceGroup($workspaceID: ID!, $groupID: ID) {
    setWorkspaceGroup(workspaceID: $workspaceID, groupID: $groupID) {
      id
      group {
        id
        name
      }
    }
  }
`);

const NONE = 'none';

/** GroupsPage lists the site's groups; site admins define them and set this workspace's. */
export default function GroupsPage() {
  const { workspaceID = '' } = useParams();
  const toast = useToast();
  const viewer = useQuery(ShellViewer);
  const admin = !!viewer.data?.viewer.siteAdmin;
  const { data, loading, error, refetch } = useQuery(GroupsPageQuery, { variables: { workspaceID } });
  const [create, { loading: creating }] = useMutation(CreateGroup);
  const [del] = useMutation(DeleteGroup);
  const [setGroup, { loading: setting }] = useMutation(SetWorkspaceGroup);
  const [form, setForm] = useState({ name: '', bps: '10000', rpm: '0', tpm: '0' });
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [deleting, setDeleting] = useState<{ id: string; name: string } | null>(null);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const { input, errors: errs } = validateGroupInput(form);
    setErrors(errs);
    setFormError(null);
    if (!input) return;
    try {
      await create({ variables: { input } });
      setForm({ name: '', bps: '10000', rpm: '0', tpm: '0' });
      toast({ tone: 'success', title: `Group ${input.name} created` });
      await refetch();
    } catch (err) {
      setFormError(describeError(err));
    }
  };

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const groups = data?.groups ?? [];
  const current = data?.workspace?.group?.id ?? NONE;
  return (
    <div className="page">
      <PageHeader
        title="Groups"
        description="A group sets a price multiplier and default rate limits for a set of keys. A key's group wins over its workspace's."
      />
      <section className="card form form-narrow" aria-label="This workspace's group">
        <SelectField
          label="This workspace's group"
          value={current}
          disabled={!admin || setting}
          options={[{ value: NONE, label: 'No group (list price)' }, ...groups.map((g) => ({ value: g.id, label: `${g.name} (${formatMultiplier(g.priceMultiplierBps)})` }))]}
          onChange={async (v) => {
            try {
              await setGroup({ variables: { workspaceID, groupID: v === NONE ? null : v } });
              toast({ tone: 'success', title: 'Workspace group saved', description: 'Gateways apply it within a second.' });
            } catch (err) {
              toast({ tone: 'error', title: 'Not saved', description: describeError(err) });
            }
          }}
        />
        {!admin && <p className="muted small">Only a site admin sets a workspace's group.</p>}
      </section>
      {groups.length === 0 ? (
        <EmptyState title="No groups yet">{admin ? 'Create one below.' : 'A site admin defines groups.'}</EmptyState>
      ) : (
        <div className="table-wrap card card-flush">
          <table className="table" aria-label="Groups">
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Price</th>
                <th scope="col">Default RPM</th>
                <th scope="col">Default TPM</th>
                {admin && (
                  <th scope="col">
                    <span className="visually-hidden">Actions</span>
                  </th>
                )}
              </tr>
            </thead>
            <tbody>
              {groups.map((g) => (
                <tr key={g.id}>
                  <td>{g.name}</td>
                  <td>{formatMultiplier(g.priceMultiplierBps)}</td>
                  <td className="num">{g.rpm ? formatCount(g.rpm) : '—'}</td>
                  <td className="num">{g.tpm ? formatCount(g.tpm) : '—'}</td>
                  {admin && (
                    <td>
                      <button type="button" className="button button-ghost button-small" onClick={() => setDeleting({ id: g.id, name: g.name })}>
                        Delete {g.name}
                      </button>
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {admin && (
        <form className="card form form-narrow" onSubmit={submit} noValidate aria-label="New group">
          <h2>New group</h2>
          {(
            [
              ['name', 'Name', 'e.g. enterprise'],
              ['bps', 'Price multiplier (basis points)', '10000 is list price, 15000 is 1.5×, 0 is free.'],
              ['rpm', 'Default RPM', 'For keys without their own. 0 = none.'],
              ['tpm', 'Default TPM', 'For keys without their own. 0 = none.'],
            ] as const
          ).map(([k, label, hint]) => (
            <div className="field" key={k}>
              <label className="field-label" htmlFor={`group-${k}`}>
                {label}
              </label>
              <input
                id={`group-${k}`}
                className="input"
                inputMode={k === 'name' ? undefined : 'numeric'}
                value={form[k]}
                onChange={(e) => setForm((f) => ({ ...f, [k]: e.target.value }))}
                aria-invalid={errors[k] ? true : undefined}
                aria-describedby={`group-${k}-msg`}
              />
              <span id={`group-${k}-msg`} className={errors[k] ? 'field-error' : 'field-hint'}>
                {errors[k] ?? hint}
              </span>
            </div>
          ))}
          {formError && (
            <p className="form-error" role="alert">
              {formError}
            </p>
          )}
          <div className="form-actions">
            <button type="submit" className="button button-primary" disabled={creating}>
              {creating ? 'Creating…' : 'Create group'}
            </button>
          </div>
        </form>
      )}
      <ConfirmDialog
        open={!!deleting}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete group ${deleting?.name ?? ''}?`}
        description="Its keys and workspaces go back to no group (list price) at once."
        confirmLabel="Delete group"
        onConfirm={async () => {
          if (!deleting) return;
          await del({ variables: { id: deleting.id } });
          setDeleting(null);
          await refetch();
        }}
      />
    </div>
  );
}
