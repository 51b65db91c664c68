import { useMutation, useQuery } from '@apollo/client';
import { useEffect, useState, type FormEvent } from 'react';
import { useParams } from 'react-router';
import { describeError } from '../api/errors';
import { ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import { centsToDollarsInput, formatCents, formatMicros, parseDollarsToCents, spendPercent } from '../lib/money';

const BillingPageQuery = graphql(`
  query BillingPage($workspaceID: ID!) {
    workspace(id: $workspaceID) {
      id
      name
      viewerRole
      billing {
        standing
        monthSpendMicros
        spendCapCents
        stripeEnabled
      }
    }
  }
`);

const SetSpendCap = graphql(`
  mutation SetSpendCap($workspaceID: ID!, $monthlyCents: Int) {
    setSpendCap(workspaceID: $workspaceID, monthlyCents: $monthlyCents) {
      id
      spendCap {
        monthlyCents
      }
      billing {
        standing
        monthSpendMicros
        spendCapCents
        stripeEnabled
      }
    }
  }
`);

const PortalURL = graphql(`
  mutation BillingPortalURL($workspaceID: ID!, $returnURL: String!) {
    billingPortalURL(workspaceID: $workspaceID, returnURL: $returnURL)
  }
`);

const CheckoutURL = graphql(`
  mutation BillingCheckoutURL($workspaceID: ID!, $returnURL: String!) {
    billingCheckoutURL(workspaceID: $workspaceID, returnURL: $returnURL)
  }
`);

const STANDING: Record<string, { label: string; tone: string; text: string }> = {
  ACTIVE: { label: 'In good standing', tone: 'green', text: 'Requests are served normally.' },
  PAST_DUE: { label: 'Past due', tone: 'orange', text: 'A payment failed. Update the payment method to avoid suspension.' },
  SUSPENDED: { label: 'Suspended', tone: 'red', text: 'Requests are refused with workspace_suspended until the balance is settled.' },
};

/** BillingPage shows this month's spend against the cap and links to Stripe. */
export default function BillingPage() {
  const { workspaceID = '' } = useParams();
  const toast = useToast();
  const { data, loading, error, refetch } = useQuery(BillingPageQuery, { variables: { workspaceID }, pollInterval: 30_000 });
  const [setCap, { loading: saving }] = useMutation(SetSpendCap);
  const [portal, { loading: portalLoading }] = useMutation(PortalURL);
  const [checkout, { loading: checkoutLoading }] = useMutation(CheckoutURL);
  const [capText, setCapText] = useState('');
  const [capError, setCapError] = useState<string | null>(null);
  const [portalUnavailable, setPortalUnavailable] = useState(false);
  const [checkoutUnavailable, setCheckoutUnavailable] = useState(false);
  const b = data?.workspace?.billing;

  useEffect(() => {
    if (b) setCapText(b.spendCapCents === null ? '' : centsToDollarsInput(b.spendCapCents));
  }, [b?.spendCapCents]); // eslint-disable-line react-hooks/exhaustive-deps

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading />;
  if (!b) return null;

  const canEdit = data?.workspace?.viewerRole === 'OWNER' || data?.workspace?.viewerRole === 'ADMIN';
  const pct = spendPercent(b.monthSpendMicros, b.spendCapCents);
  const standing = STANDING[b.standing] ?? { label: b.standing, tone: 'grey', text: '' };
  const month = new Intl.DateTimeFormat(undefined, { month: 'long', year: 'numeric', timeZone: 'UTC' }).format(new Date());

  const saveCap = async (e: FormEvent) => {
    e.preventDefault();
    const cents = capText.trim() === '' ? null : parseDollarsToCents(capText);
    if (capText.trim() !== '' && cents === null) {
      setCapError('Enter an amount in dollars, such as 250 or 99.50 — or leave it empty for no cap.');
      return;
    }
    if (cents !== null && cents > 2_147_483_647) {
      setCapError('That cap is larger than the system allows.');
      return;
    }
    setCapError(null);
    try {
      await setCap({ variables: { workspaceID, monthlyCents: cents } });
      toast({ tone: 'success', title: cents === null ? 'Spend cap removed' : `Spend cap set to ${formatCents(cents)} a month` });
    } catch (err) {
      setCapError(describeError(err));
    }
  };

  const go = async (kind: 'portal' | 'checkout') => {
    const returnURL = window.location.href;
    try {
      const res = kind === 'portal' ? await portal({ variables: { workspaceID, returnURL } }) : await checkout({ variables: { workspaceID, returnURL } });
      const url = kind === 'portal' ? (res.data as { billingPortalURL?: string | null })?.billingPortalURL : (res.data as { billingCheckoutURL?: string | null })?.billingCheckoutURL;
      if (url) {
        window.location.assign(url);
        return;
      }
      if (kind === 'portal') setPortalUnavailable(true);
      else setCheckoutUnavailable(true);
      toast({ tone: 'info', title: 'Online billing is not set up on this server', description: 'Spend is tracked on the local ledger; ask your operator about invoices.' });
    } catch (err) {
      toast({ tone: 'error', title: 'Could not open billing', description: describeError(err) });
    }
  };

  return (
    <div className="page">
      <PageHeader
        title="Billing"
        description="Metered cost of every answered request, summed for the calendar month (UTC)."
        actions={
          canEdit && (
            <>
              {b.stripeEnabled && !portalUnavailable && (
                <button type="button" className="button button-secondary" onClick={() => go('portal')} disabled={portalLoading}>
                  Manage billing / invoices
                </button>
              )}
              {!checkoutUnavailable && (
                <button type="button" className="button button-primary" onClick={() => go('checkout')} disabled={checkoutLoading}>
                  Add payment method
                </button>
              )}
            </>
          )
        }
      />
      <div className="grid-2">
        <section className="card" aria-labelledby="spend-h">
          <div className="card-head">
            <h2 id="spend-h">Spend in {month}</h2>
            <span className={`chip chip-${standing.tone}`}>
              <span className="chip-dot" aria-hidden="true" />
              {standing.label}
            </span>
          </div>
          <p className="big-number">{formatMicros(b.monthSpendMicros)}</p>
          <p className="muted">{b.spendCapCents === null ? 'No spend cap: usage is not limited by cost.' : `of a ${formatCents(b.spendCapCents)} monthly cap`}</p>
          {b.spendCapCents !== null && (
            <div
              className={`progress${pct >= 90 ? ' progress-danger' : pct >= 75 ? ' progress-warn' : ''}`}
              role="progressbar"
              aria-label="Spend against the monthly cap"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={pct}
              aria-valuetext={`${pct}% of the cap used`}
            >
              <div className="progress-bar" style={{ width: `${pct}%` }} />
            </div>
          )}
          {standing.text && <p className="muted small">{standing.text}</p>}
        </section>
        <section className="card" aria-labelledby="cap-h">
          <h2 id="cap-h">Monthly spend cap</h2>
          <form className="form" onSubmit={saveCap} noValidate>
            <div className="field">
              <label className="field-label" htmlFor="cap">
                Cap in US dollars
              </label>
              <div className="input-prefix">
                <span aria-hidden="true">$</span>
                <input
                  id="cap"
                  className="input"
                  inputMode="decimal"
                  placeholder="No cap"
                  value={capText}
                  disabled={!canEdit}
                  onChange={(e) => setCapText(e.target.value)}
                  aria-invalid={capError ? true : undefined}
                  aria-describedby="cap-msg"
                />
              </div>
              <span id="cap-msg" className={capError ? 'field-error' : 'field-hint'}>
                {capError ?? 'Leave empty for no cap. When spend reaches the cap, requests get 429 insufficient_quota until next month.'}
              </span>
            </div>
            {canEdit ? (
              <div className="form-actions">
                <button type="submit" className="button button-primary" disabled={saving}>
                  {saving ? 'Saving…' : 'Save cap'}
                </button>
              </div>
            ) : (
              <p className="muted small">Only owners and admins can change the cap.</p>
            )}
          </form>
        </section>
      </div>
    </div>
  );
}
