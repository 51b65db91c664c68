import { useMutation } from '@apollo/client';
import { useState, type FormEvent } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { DEFAULT_CHOICE, durationOf } from '../lib/duration';
import { formatDateTime } from '../lib/format';
import { parseDollarsToCents } from '../lib/money';
import { isIPOrCIDR } from '../lib/net';
import { ChipsInput } from './ChipsInput';
import { DurationPicker } from './DurationPicker';
import { ANY_GATEWAY, KeyScopeFields, NO_GROUP } from './KeyScopeFields';
import { Modal } from './Modal';
import { SecretReveal } from './SecretReveal';

/** CreateKey mints a key; its payload is the only place the whole secret ever appears. */
export const CreateKey = graphql(`
  mutation CreateKey($input: CreateAPIKeyInput!) {
    createAPIKey(input: $input) {
      secret
      apiKey {
        ...KeyRowFields
      }
    }
  }
`);

interface Created {
  secret: string;
  label: string;
  maskedKey: string;
  expiresAt: string | null | undefined;
}

/**
 * CreateKeyDialog is "Generate key": a form, then the secret shown once.
 * The secret lives only in this component's state and is dropped when the
 * dialog closes.
 */
export function CreateKeyDialog({ workspaceID, open, onOpenChange }: { workspaceID: string; open: boolean; onOpenChange(o: boolean): void }) {
  const [label, setLabel] = useState('');
  const [duration, setDuration] = useState(DEFAULT_CHOICE);
  const [durationError, setDurationError] = useState<string | null>(null);
  const [maxRequests, setMaxRequests] = useState('0');
  const [creditQuota, setCreditQuota] = useState('');
  const [models, setModels] = useState<string[]>([]);
  const [ips, setIps] = useState<string[]>([]);
  const [group, setGroup] = useState(NO_GROUP);
  const [gateway, setGateway] = useState(ANY_GATEWAY);
  const [created, setCreated] = useState<Created | null>(null);
  const [formError, setFormError] = useState<string | null>(null);
  const [create, { loading }] = useMutation(CreateKey, { refetchQueries: 'active' });

  const close = (o: boolean) => {
    if (!o) {
      setCreated(null); // forget the secret for good
      setLabel('');
      setDuration(DEFAULT_CHOICE);
      setDurationError(null);
      setMaxRequests('0');
      setCreditQuota('');
      setModels([]);
      setIps([]);
      setGroup(NO_GROUP);
      setGateway(ANY_GATEWAY);
      setFormError(null);
    }
    onOpenChange(o);
  };

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const max = Number(maxRequests);
    if (!label.trim()) return setFormError('Give the key a label, such as prod-payments-worker.');
    if (!/^\d+$/.test(maxRequests.trim()) || !Number.isSafeInteger(max) || max > 2_147_483_647) {
      return setFormError('Max requests must be a whole number, 0 or more (0 = unlimited).');
    }
    const lifetime = durationOf(duration);
    setDurationError('error' in lifetime ? lifetime.error : null);
    if ('error' in lifetime) return;
    const quota = creditQuota.trim() === '' ? 0 : parseDollarsToCents(creditQuota);
    if (quota === null || quota > 2_147_483_647) {
      return setFormError('The credit quota is an amount in dollars, such as 25 or 12.50; leave it empty for no quota.');
    }
    setFormError(null);
    try {
      const res = await create({
        variables: {
          input: {
            workspaceID,
            label: label.trim(),
            durationHours: lifetime.hours,
            maxRequests: max,
            creditQuotaCents: quota,
            allowedModels: models,
            ipAllowlist: ips,
            groupID: group === NO_GROUP ? null : group,
            gatewayName: gateway === ANY_GATEWAY ? null : gateway,
          },
        },
      });
      const p = res.data?.createAPIKey;
      if (p) setCreated({ secret: p.secret, label: p.apiKey.label, maskedKey: p.apiKey.maskedKey, expiresAt: p.apiKey.expiresAt });
    } catch (err) {
      setFormError(describeError(err));
    }
  };

  return (
    <Modal
      open={open}
      onOpenChange={close}
      title={created ? 'Your new API key' : 'Generate API key'}
      description={created ? undefined : 'Keys authenticate /v1 requests as this workspace and share its limits and billing.'}
      dismissible={!created}
      wide={!created}
    >
      {created ? (
        <div className="form">
          <SecretReveal
            secret={created.secret}
            note={`“${created.label}” — listed as ${created.maskedKey}. ${created.expiresAt ? `Expires ${formatDateTime(created.expiresAt)}.` : 'Never expires.'}`}
          />
          <div className="dialog-actions">
            <button type="button" className="button button-primary" onClick={() => close(false)}>
              I've stored it — done
            </button>
          </div>
        </div>
      ) : (
        <form className="form" onSubmit={submit} noValidate>
          <div className="form-grid">
            <div className="field">
              <label className="field-label" htmlFor="key-label">
                Label
              </label>
              <input
                id="key-label"
                className="input"
                value={label}
                onChange={(e) => setLabel(e.target.value)}
                placeholder="prod-payments-worker"
                maxLength={200}
                autoFocus
                required
              />
              <span className="field-hint">Name the workload, so you recognise the key in lists and logs.</span>
            </div>
            <div className="field">
              <label className="field-label" htmlFor="key-max">
                Max requests
              </label>
              <input id="key-max" className="input" inputMode="numeric" value={maxRequests} onChange={(e) => setMaxRequests(e.target.value)} aria-describedby="key-max-hint" />
              <span id="key-max-hint" className="field-hint">
                0 = unlimited. The key turns “Rate limited” when it reaches the limit.
              </span>
            </div>
            <div className="field">
              <label className="field-label" htmlFor="key-credit">
                Credit quota
              </label>
              <div className="input-prefix">
                <span aria-hidden="true">$</span>
                <input id="key-credit" className="input" inputMode="decimal" value={creditQuota} onChange={(e) => setCreditQuota(e.target.value)} placeholder="unlimited" aria-describedby="key-credit-hint" />
              </div>
              <span id="key-credit-hint" className="field-hint">
                The most this key may ever spend. Empty or 0 = unlimited; once spent, requests get 429 until you top it up.
              </span>
            </div>
          </div>
          <DurationPicker value={duration} onChange={setDuration} error={durationError} />
          <ChipsInput label="Allowed models" values={models} onChange={setModels} placeholder="gpt-4o-mini, mock-gpt" hint="Press Enter or comma after each model. Empty: every model." />
          <ChipsInput
            label="IP allow-list"
            values={ips}
            onChange={setIps}
            placeholder="203.0.113.0/24"
            hint="Addresses or CIDR ranges. Empty: any address."
            validate={(v) => (isIPOrCIDR(v) ? null : `“${v}” is not an IP address or CIDR range, e.g. 203.0.113.0/24.`)}
          />
          <KeyScopeFields group={group} gateway={gateway} onGroup={setGroup} onGateway={setGateway} />
          {formError && (
            <p className="form-error" role="alert">
              {formError}
            </p>
          )}
          <div className="dialog-actions">
            <button type="button" className="button button-secondary" onClick={() => close(false)}>
              Cancel
            </button>
            <button type="submit" className="button button-primary" disabled={loading}>
              {loading ? 'Generating…' : 'Generate key'}
            </button>
          </div>
        </form>
      )}
    </Modal>
  );
}
