import { useMutation, useQuery } from '@apollo/client';
import { useEffect, useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { checkKeyForm, formFor, type KeyForm, type KeyFormErrors } from '../lib/keySettings';
import { isIPOrCIDR } from '../lib/net';
import { ANY_GATEWAY, KeyScopeFields, NO_GROUP } from './KeyScopeFields';
import { Checkbox } from './Checkbox';
import { ChipsInput } from './ChipsInput';
import { Loading } from './Feedback';
import { Modal } from './Modal';
import { useToast } from './Toast';

/** EditKeySettings loads every setting of a key that the edit dialog shows. */
export const EditKeySettings = graphql(`
  query EditKeySettings($id: ID!) {
    node(id: $id) {
      __typename
      ... on APIKey {
        id
        label
        status
        expiresAt
        maxRequests
        creditQuotaCents
        allowedModels
        ipAllowlist
        rpm
        tpm
        cacheEnabled
        groupID
        gatewayName
      }
    }
  }
`);

/** UpdateKeySettings saves what the edit dialog changed. */
export const UpdateKeySettings = graphql(`
  mutation UpdateKeySettings($id: ID!, $input: UpdateAPIKeyInput!) {
    updateAPIKey(id: $id, input: $input) {
      ...KeyRowFields
      allowedModels
      ipAllowlist
      rpm
      tpm
      cacheEnabled
      creditRemainingMicros
      groupID
      gatewayName
    }
  }
`);

/**
 * EditKeyDialog edits every setting of a key (seed: “Edit — name, quota,
 * expiry, model restrictions, IP whitelist … at any time. Changes take
 * effect immediately”), checked inline before anything is sent; the server's
 * own refusals land on the field they name.
 */
export function EditKeyDialog({ keyID, onClose }: { keyID: string | null; onClose(): void }) {
  const toast = useToast();
  const { data, loading, error } = useQuery(EditKeySettings, { variables: { id: keyID ?? '' }, skip: !keyID, fetchPolicy: 'network-only' });
  const k = data?.node?.__typename === 'APIKey' ? data.node : null;
  const [form, setForm] = useState<KeyForm | null>(null);
  const [errors, setErrors] = useState<KeyFormErrors>({});
  const [formError, setFormError] = useState<string | null>(null);
  const [save, { loading: saving }] = useMutation(UpdateKeySettings, { refetchQueries: 'active' });
  // The key's group and gateway, beside the settings form (KeyScopeFields).
  const [scope, setScope] = useState<{ group: string; gateway: string } | null>(null);
  const scopeOf = (key: { groupID?: string | null; gatewayName?: string | null }) => ({ group: key.groupID ?? NO_GROUP, gateway: key.gatewayName ?? ANY_GATEWAY });

  useEffect(() => {
    if (k && (!form || !keyID)) {
      setForm(formFor({ ...k, allowedModels: k.allowedModels ?? [], ipAllowlist: k.ipAllowlist ?? [] }));
      setScope(scopeOf(k));
    }
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [k]);

  const close = () => {
    setForm(null);
    setScope(null);
    setErrors({});
    setFormError(null);
    onClose();
  };
  const set = <F extends keyof KeyForm>(f: F, v: KeyForm[F]) => {
    setForm((old) => (old ? { ...old, [f]: v } : old));
    setErrors((old) => (old[f] ? { ...old, [f]: undefined } : old));
  };
  const expired = k?.status === 'EXPIRED';

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    if (!form || !k) return;
    const r = checkKeyForm(form, { ...k, allowedModels: k.allowedModels ?? [], ipAllowlist: k.ipAllowlist ?? [] });
    setFormError(null);
    if ('errors' in r) return setErrors(r.errors);
    setErrors({});
    const input: typeof r.input & { groupID?: string; gatewayName?: string } = { ...r.input };
    const was = scopeOf(k);
    if (scope && scope.group !== was.group) input.groupID = scope.group === NO_GROUP ? '' : scope.group;
    if (scope && scope.gateway !== was.gateway) input.gatewayName = scope.gateway === ANY_GATEWAY ? '' : scope.gateway;
    if (!Object.keys(input).length) return close();
    try {
      await save({ variables: { id: k.id, input } });
      toast({ tone: 'success', title: `Saved “${form.label.trim()}”`, description: 'Every gateway applies the change within a second.' });
      close();
    } catch (err) {
      // A refusal naming a field goes next to it.
      const field = fieldOf(err);
      if (field) setErrors({ [field]: describeError(err) });
      else setFormError(describeError(err));
    }
  };

  const fieldMsg = (f: keyof KeyForm, hint: string) => (
    <span id={`edit-${f}-msg`} className={errors[f] ? 'field-error' : 'field-hint'}>
      {errors[f] ?? hint}
    </span>
  );
  const numberField = (f: 'maxRequests' | 'rpm' | 'tpm', label: string, hint: string) => (
    <div className="field">
      <label className="field-label" htmlFor={`edit-${f}`}>
        {label}
      </label>
      <input
        id={`edit-${f}`}
        className="input"
        inputMode="numeric"
        value={form?.[f] ?? ''}
        onChange={(e) => set(f, e.target.value)}
        aria-invalid={errors[f] ? true : undefined}
        aria-describedby={`edit-${f}-msg`}
      />
      {fieldMsg(f, hint)}
    </div>
  );

  return (
    <Modal open={!!keyID} onOpenChange={(o) => !o && close()} title={`Edit “${k?.label ?? '…'}”`} description="Changes take effect on every gateway within a second." wide>
      {error ? (
        <p className="form-error" role="alert">
          {describeError(error)}
        </p>
      ) : loading || !form || !k ? (
        <Loading label="Loading the key's settings…" />
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          <div className="form-grid">
            <div className="field">
              <label className="field-label" htmlFor="edit-label">
                Label
              </label>
              <input
                id="edit-label"
                className="input"
                value={form.label}
                onChange={(e) => set('label', e.target.value)}
                aria-invalid={errors.label ? true : undefined}
                aria-describedby="edit-label-msg"
              />
              {fieldMsg('label', 'How the key appears in lists and logs.')}
            </div>
            <div className="field">
              <label className="field-label" htmlFor="edit-expiresAt">
                Expires at
              </label>
              <input
                id="edit-expiresAt"
                className="input"
                type="datetime-local"
                value={form.expiresAt}
                disabled={expired}
                onChange={(e) => set('expiresAt', e.target.value)}
                aria-invalid={errors.expiresAt ? true : undefined}
                aria-describedby="edit-expiresAt-msg"
              />
              {fieldMsg('expiresAt', expired ? 'This key has expired and cannot be re-activated — generate a new key instead.' : 'Empty: the key never expires.')}
            </div>
            <div className="field">
              <label className="field-label" htmlFor="edit-creditQuota">
                Credit quota
              </label>
              <div className="input-prefix">
                <span aria-hidden="true">$</span>
                <input
                  id="edit-creditQuota"
                  className="input"
                  inputMode="decimal"
                  placeholder="unlimited"
                  value={form.creditQuota}
                  onChange={(e) => set('creditQuota', e.target.value)}
                  aria-invalid={errors.creditQuota ? true : undefined}
                  aria-describedby="edit-creditQuota-msg"
                />
              </div>
              {fieldMsg('creditQuota', 'All-time spend limit. Empty or 0: unlimited. Raise it to top the key up.')}
            </div>
            {numberField('maxRequests', 'Max requests', '0 = unlimited.')}
            <div className="field check-row">
              <Checkbox id="edit-cache" label="Response cache" checked={form.cacheEnabled} onCheckedChange={(c) => set('cacheEnabled', c)} />
              <label htmlFor="edit-cache">Response cache for identical non-streamed requests</label>
            </div>
            {numberField('rpm', 'Requests per minute (RPM)', 'This key’s own limit; 0 = only the workspace’s.')}
            {numberField('tpm', 'Tokens per minute (TPM)', 'This key’s own limit; 0 = only the workspace’s.')}
          </div>
          <ChipsInput label="Allowed models" values={form.allowedModels} onChange={(v) => set('allowedModels', v)} placeholder="gpt-4o-mini" hint="Empty: every model." />
          <ChipsInput
            label="IP allow-list"
            values={form.ipAllowlist}
            onChange={(v) => set('ipAllowlist', v)}
            placeholder="203.0.113.0/24"
            hint={errors.ipAllowlist ?? 'Addresses or CIDR ranges. Empty: any address.'}
            validate={(v) => (isIPOrCIDR(v) ? null : `“${v}” is not an IP address or CIDR range, e.g. 203.0.113.0/24.`)}
          />
          {scope && (
            <KeyScopeFields
              group={scope.group}
              gateway={scope.gateway}
              onGroup={(v) => setScope((o) => (o ? { ...o, group: v } : o))}
              onGateway={(v) => setScope((o) => (o ? { ...o, gateway: v } : o))}
            />
          )}
          {formError && (
            <p className="form-error" role="alert">
              {formError}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" className="button button-secondary" onClick={close}>
              Cancel
            </button>
            <button type="submit" className="button button-primary" disabled={saving}>
              {saving ? 'Saving…' : 'Save changes'}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}

/** EDIT_FIELDS maps the API's input field names to the form's. */
const EDIT_FIELDS: Record<string, keyof KeyForm> = {
  label: 'label',
  expiresAt: 'expiresAt',
  maxRequests: 'maxRequests',
  creditQuotaCents: 'creditQuota',
  allowedModels: 'allowedModels',
  ipAllowlist: 'ipAllowlist',
  rpm: 'rpm',
  tpm: 'tpm',
};

function fieldOf(err: unknown): keyof KeyForm | undefined {
  const e = err as { graphQLErrors?: { extensions?: { field?: unknown } }[] };
  const f = e?.graphQLErrors?.[0]?.extensions?.field;
  return typeof f === 'string' ? EDIT_FIELDS[f] : undefined;
}
