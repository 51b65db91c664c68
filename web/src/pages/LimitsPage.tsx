import { useMutation, useQuery } from '@apollo/client';
import { useEffect, useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { describeError } from '../api/errors';
import { ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { useToast } from '../components/Toast';
import { KeyLimitCard } from '../components/KeyLimitCard';
import { WorkspaceActiveCard } from '../components/WorkspaceActiveCard';
import { graphql } from '../gql';
import { formatCount } from '../lib/format';

const LimitsPageQuery = graphql(`
  query LimitsPage($workspaceID: ID!) {
    workspace(id: $workspaceID) {
      id
      viewerRole
      rateLimits {
        rpm
        tpm
        monthlyTokenQuota
      }
    }
  }
`);

const UpdateLimits = graphql(`
  mutation UpdateLimits($workspaceID: ID!, $rpm: Int, $tpm: Int, $monthlyTokenQuota: Int) {
    updateWorkspaceLimits(workspaceID: $workspaceID, rpm: $rpm, tpm: $tpm, monthlyTokenQuota: $monthlyTokenQuota) {
      id
      rateLimits {
        rpm
        tpm
        monthlyTokenQuota
      }
    }
  }
`);

/** MAX_INT is GraphQL's Int ceiling; larger limits cannot be sent. */
const MAX_INT = 2_147_483_647;

const FIELDS = [
  { name: 'rpm', label: 'Requests per minute (RPM)', hint: 'Across every key of the workspace. 0 = unlimited.' },
  { name: 'tpm', label: 'Tokens per minute (TPM)', hint: 'Prompt plus completion tokens. 0 = unlimited.' },
  { name: 'monthlyTokenQuota', label: 'Monthly token quota', hint: 'Tokens per calendar month (UTC); requests are refused with insufficient_quota after it. 0 = unlimited.' },
] as const;

type Name = (typeof FIELDS)[number]['name'];

/** validateLimit returns why a limit field's text is not acceptable, or null. */
export function validateLimit(label: string, text: string): string | null {
  const t = text.trim().replace(/[,_\s]/g, '');
  if (t === '') return `${label} is required — enter 0 for unlimited.`;
  if (!/^\d+$/.test(t)) return `${label} must be a whole number, 0 or more.`;
  if (Number(t) > MAX_INT) return `${label} can be at most ${formatCount(MAX_INT)}.`;
  return null;
}

/** LimitsPage edits the workspace's RPM, TPM and monthly token quota. */
export default function LimitsPage() {
  const { workspaceID = '' } = useParams();
  const toast = useToast();
  const { data, loading, error, refetch } = useQuery(LimitsPageQuery, { variables: { workspaceID } });
  const [update, { loading: saving }] = useMutation(UpdateLimits);
  const [values, setValues] = useState<Record<Name, string>>({ rpm: '', tpm: '', monthlyTokenQuota: '' });
  const [errors, setErrors] = useState<Partial<Record<Name, string>>>({});
  const [formError, setFormError] = useState<string | null>(null);
  const limits = data?.workspace?.rateLimits;

  useEffect(() => {
    if (limits) setValues({ rpm: String(limits.rpm), tpm: String(limits.tpm), monthlyTokenQuota: String(limits.monthlyTokenQuota) });
  }, [limits]);

  const submit = async (e: FormEvent) => {
    e.preventDefault();
    const errs: Partial<Record<Name, string>> = {};
    for (const f of FIELDS) {
      const msg = validateLimit(f.label, values[f.name]);
      if (msg) errs[f.name] = msg;
    }
    setErrors(errs);
    setFormError(null);
    if (Object.keys(errs).length) return;
    const n = (k: Name) => Number(values[k].replace(/[,_\s]/g, ''));
    try {
      await update({ variables: { workspaceID, rpm: n('rpm'), tpm: n('tpm'), monthlyTokenQuota: n('monthlyTokenQuota') } });
      toast({ tone: 'success', title: 'Limits saved', description: 'Gateways apply them within a few seconds.' });
    } catch (err) {
      setFormError(describeError(err));
    }
  };

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  const readOnly = data?.workspace?.viewerRole === 'VIEWER' || data?.workspace?.viewerRole === 'DEVELOPER';
  return (
    <div className="page">
      <PageHeader title="Limits" description="Rate limits and quotas apply to the whole workspace, across every key. Requests over a limit get 429 with Retry-After." />
      <form className="card form form-narrow" onSubmit={submit} noValidate>
        {FIELDS.map((f) => (
          <div className="field" key={f.name}>
            <label className="field-label" htmlFor={`limit-${f.name}`}>
              {f.label}
            </label>
            <input
              id={`limit-${f.name}`}
              className="input"
              inputMode="numeric"
              value={values[f.name]}
              disabled={readOnly}
              onChange={(e) => setValues((v) => ({ ...v, [f.name]: e.target.value }))}
              aria-invalid={errors[f.name] ? true : undefined}
              aria-describedby={`limit-${f.name}-msg`}
            />
            <span id={`limit-${f.name}-msg`} className={errors[f.name] ? 'field-error' : 'field-hint'}>
              {errors[f.name] ?? f.hint}
            </span>
          </div>
        ))}
        {formError && (
          <p className="form-error" role="alert">
            {formError}
          </p>
        )}
        {readOnly ? (
          <p className="muted small">Only owners and admins can change limits.</p>
        ) : (
          <div className="form-actions">
            <button type="submit" className="button button-primary" disabled={saving}>
              {saving ? 'Saving…' : 'Save limits'}
            </button>
          </div>
        )}
      </form>
      <KeyLimitCard workspaceID={workspaceID} />
      <WorkspaceActiveCard workspaceID={workspaceID} />
    </div>
  );
}
