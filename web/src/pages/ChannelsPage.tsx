import { useMutation, useQuery } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { describeError } from '../api/errors';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { EmptyState, ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { Modal } from '../components/Modal';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import type { ChannelsPageQuery as PageData } from '../gql/graphql';
import { parseModelMap, splitModels, validateChannel, type ChannelField, type ChannelForm } from '../lib/channels';

const ChannelsPageQuery = graphql(`
  query ChannelsPage($workspaceID: ID!) {
    viewer {
      id
      siteAdmin
    }
    workspace(id: $workspaceID) {
      id
      viewerRole
      channels {
        ...ChannelRow
      }
    }
    channels {
      ...ChannelRow
    }
  }
  fragment ChannelRow on Channel {
    id
    workspaceID
    name
    type
    baseURL
    apiVersion
    hasAPIKey
    apiKeyMask
    models
    modelMap {
      from
      to
    }
    priority
    weight
    enabled
    rpm
    tpm
  }
`);

const CreateChannel = graphql(`
  mutation CreateChannel($input: ChannelInput!) {
    createChannel(input: $input) {
      id
      name
    }
  }
`);

const UpdateChannel = graphql(`
  mutation UpdateChannel($id: ID!, $input: ChannelInput!) {
    updateChannel(id: $id, input: $input) {
      id
      name
    }
  }
`);

const DeleteChannel = graphql(`
  mutation DeleteChannel($id: ID!) {
    deleteChannel(id: $id)
  }
`);

type Row = NonNullable<PageData['workspace']>['channels'][number];

const EMPTY: ChannelForm = {
  name: '',
  type: 'OPENAI',
  baseURL: '',
  apiKey: '',
  apiVersion: '',
  models: '',
  modelMap: '',
  priority: '0',
  weight: '1',
  rpm: '0',
  tpm: '0',
  enabled: true,
};

function formOf(c: Row): ChannelForm {
  return {
    name: c.name,
    type: c.type,
    baseURL: c.baseURL,
    apiKey: '',
    apiVersion: c.apiVersion ?? '',
    models: c.models.join(', '),
    modelMap: c.modelMap.map((m) => `${m.from}=${m.to}`).join('\n'),
    priority: String(c.priority),
    weight: String(c.weight),
    rpm: String(c.rpm),
    tpm: String(c.tpm),
    enabled: c.enabled,
  };
}

const num = (t: string) => (t.trim() === '' ? undefined : Number(t.trim()));

/** ChannelsPage lists the workspace's channels (and, to site admins, the site-wide ones) and edits them. */
export default function ChannelsPage() {
  const { workspaceID = '' } = useParams();
  const toast = useToast();
  const { data, loading, error, refetch } = useQuery(ChannelsPageQuery, { variables: { workspaceID } });
  const [editing, setEditing] = useState<{ scope: string | null; row: Row | null } | null>(null);
  const [deleting, setDeleting] = useState<Row | null>(null);
  const [del] = useMutation(DeleteChannel);

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const role = data?.workspace?.viewerRole;
  const canManage = role === 'OWNER' || role === 'ADMIN';
  const siteAdmin = !!data?.viewer.siteAdmin;
  const site = (data?.channels ?? []).filter((c) => !c.workspaceID);

  return (
    <div className="page">
      <PageHeader
        title="Channels"
        description="Upstream provider accounts the gateway routes requests to: higher priority first, by weight within a priority. Channel API keys belong to your provider accounts and are never shown again."
        actions={
          canManage && (
            <button type="button" className="button button-primary" onClick={() => setEditing({ scope: workspaceID, row: null })}>
              New channel
            </button>
          )
        }
      />
      <ChannelTable label="Workspace channels" rows={data?.workspace?.channels ?? []} canManage={canManage} onEdit={(row) => setEditing({ scope: workspaceID, row })} onDelete={setDeleting} />
      {siteAdmin && (
        <>
          <PageHeader
            title="Site-wide channels"
            description="Serve every workspace that has no channel of its own for a model. Only site admins see them."
            actions={
              <button type="button" className="button button-secondary" onClick={() => setEditing({ scope: null, row: null })}>
                New site-wide channel
              </button>
            }
          />
          <ChannelTable label="Site-wide channels" rows={site} canManage onEdit={(row) => setEditing({ scope: null, row })} onDelete={setDeleting} />
        </>
      )}
      {editing && (
        <ChannelDialog
          scope={editing.scope}
          row={editing.row}
          onClose={() => setEditing(null)}
          onSaved={(name) => {
            setEditing(null);
            void refetch();
            toast({ tone: 'success', title: `Channel ${name} saved`, description: 'Gateways use it within a second.' });
          }}
        />
      )}
      <ConfirmDialog
        open={!!deleting}
        onOpenChange={(o) => !o && setDeleting(null)}
        title={`Delete channel ${deleting?.name ?? ''}?`}
        description="Gateways stop sending requests to it at once. Its usage stays in the ledger."
        confirmLabel="Delete channel"
        onConfirm={async () => {
          if (!deleting) return;
          await del({ variables: { id: deleting.id } });
          setDeleting(null);
          void refetch();
        }}
      />
    </div>
  );
}

function ChannelTable({ label, rows, canManage, onEdit, onDelete }: { label: string; rows: Row[]; canManage: boolean; onEdit(r: Row): void; onDelete(r: Row): void }) {
  if (rows.length === 0) {
    return <EmptyState title="No channels yet">Requests go to the gateway's global upstream.</EmptyState>;
  }
  return (
    <div className="table-wrap card card-flush">
      <table className="table" aria-label={label}>
        <thead>
          <tr>
            <th scope="col">Name</th>
            <th scope="col">Type</th>
            <th scope="col">Base URL</th>
            <th scope="col">Models</th>
            <th scope="col">Priority / weight</th>
            <th scope="col">Key</th>
            <th scope="col">Status</th>
            <th scope="col" className="col-actions">
              <span className="visually-hidden">Actions</span>
            </th>
          </tr>
        </thead>
        <tbody>
          {rows.map((c) => (
            <tr key={c.id}>
              <td className="strong">{c.name}</td>
              <td>{c.type}</td>
              <td className="mono small cell-wrap">{c.baseURL}</td>
              <td className="small cell-wrap">{c.models.length ? c.models.join(', ') : 'every model'}</td>
              <td>
                {c.priority} / {c.weight}
              </td>
              <td className="mono small">{c.hasAPIKey ? (c.apiKeyMask ?? 'stored') : 'none'}</td>
              <td>{c.enabled ? 'Enabled' : 'Disabled'}</td>
              <td className="col-actions">
                {canManage && (
                  <>
                    <button type="button" className="button button-secondary button-small" onClick={() => onEdit(c)} aria-label={`Edit ${c.name}`}>
                      Edit
                    </button>{' '}
                    <button type="button" className="button button-danger button-small" onClick={() => onDelete(c)} aria-label={`Delete ${c.name}`}>
                      Delete
                    </button>
                  </>
                )}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

const FIELDS: { name: ChannelField; label: string; hint: string; multiline?: boolean }[] = [
  { name: 'name', label: 'Name', hint: 'Unique here; clients see it in the x-oais-channel header.' },
  { name: 'baseURL', label: 'Base URL', hint: 'e.g. https://api.openai.com/v1; private addresses are refused unless the operator allows them.' },
  { name: 'apiKey', label: 'API key', hint: 'Stored encrypted and never shown again.' },
  { name: 'apiVersion', label: 'API version (Azure)', hint: 'e.g. 2024-10-21; empty for the default.' },
  { name: 'models', label: 'Models', hint: 'Comma-separated client model names; empty serves every model.' },
  { name: 'modelMap', label: 'Model mapping', hint: 'One client-model=upstream-model a line.', multiline: true },
  { name: 'priority', label: 'Priority', hint: 'Higher is tried first.' },
  { name: 'weight', label: 'Weight', hint: 'Share of traffic within a priority; 0 or more.' },
  { name: 'rpm', label: 'RPM', hint: 'Requests a minute; 0 = no cap.' },
  { name: 'tpm', label: 'TPM', hint: 'Tokens a minute; 0 = no cap.' },
];

function ChannelDialog({ scope, row, onClose, onSaved }: { scope: string | null; row: Row | null; onClose(): void; onSaved(name: string): void }) {
  const [form, setForm] = useState<ChannelForm>(row ? formOf(row) : EMPTY);
  const [errors, setErrors] = useState<Partial<Record<ChannelField, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [create, { loading: creating }] = useMutation(CreateChannel);
  const [update, { loading: updating }] = useMutation(UpdateChannel);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs = validateChannel(form);
    setErrors(errs);
    setFormError(null);
    if (Object.keys(errs).length) return;
    const map = parseModelMap(form.modelMap);
    const input = {
      workspaceID: scope,
      name: form.name.trim(),
      type: form.type,
      baseURL: form.baseURL.trim(),
      // Write-only: an empty field on edit keeps the stored key.
      apiKey: form.apiKey === '' && row ? undefined : form.apiKey,
      apiVersion: form.apiVersion.trim() || undefined,
      models: splitModels(form.models),
      modelMap: typeof map === 'string' ? [] : map,
      priority: num(form.priority),
      weight: num(form.weight),
      rpm: num(form.rpm),
      tpm: num(form.tpm),
      enabled: form.enabled,
    };
    try {
      if (row) await update({ variables: { id: row.id, input } });
      else await create({ variables: { input } });
      onSaved(input.name);
    } catch (err) {
      setFormError(describeError(err));
    }
  };

  return (
    <Modal open onOpenChange={(o) => !o && onClose()} title={row ? `Edit channel ${row.name}` : scope ? 'New channel' : 'New site-wide channel'} wide>
      <form className="form" onSubmit={submit} noValidate>
        <div className="field">
          <label className="field-label" htmlFor="channel-type">
            Type
          </label>
          <select id="channel-type" className="input" value={form.type} onChange={(e) => setForm((f) => ({ ...f, type: e.target.value as ChannelForm['type'] }))}>
            <option value="OPENAI">OpenAI-compatible</option>
            <option value="AZURE">Azure OpenAI</option>
            <option value="ANTHROPIC">Anthropic</option>
          </select>
        </div>
        {FIELDS.map((fd) => {
          const hint = fd.name === 'apiKey' && row?.hasAPIKey ? `A key is stored (${row.apiKeyMask ?? '…'}); leave empty to keep it.` : fd.hint;
          const props = {
            id: `channel-${fd.name}`,
            className: 'input',
            value: form[fd.name] as string,
            onChange: (e: { target: { value: string } }) => setForm((f) => ({ ...f, [fd.name]: e.target.value })),
            'aria-invalid': errors[fd.name] ? true : undefined,
            'aria-describedby': `channel-${fd.name}-msg`,
          };
          return (
            <div className="field" key={fd.name}>
              <label className="field-label" htmlFor={`channel-${fd.name}`}>
                {fd.label}
              </label>
              {fd.multiline ? <textarea rows={3} {...props} /> : <input type={fd.name === 'apiKey' ? 'password' : 'text'} autoComplete="off" {...props} />}
              <span id={`channel-${fd.name}-msg`} className={errors[fd.name] ? 'field-error' : 'field-hint'}>
                {errors[fd.name] ?? hint}
              </span>
            </div>
          );
        })}
        <label className="checkbox-row">
          <input type="checkbox" checked={form.enabled} onChange={(e) => setForm((f) => ({ ...f, enabled: e.target.checked }))} /> Enabled
        </label>
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        <div className="form-actions">
          <button type="button" className="button button-secondary" onClick={onClose}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={creating || updating}>
            {creating || updating ? 'Saving…' : 'Save channel'}
          </button>
        </div>
      </form>
    </Modal>
  );
}
