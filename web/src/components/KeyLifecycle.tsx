import { useMutation } from '@apollo/client';
import { useState } from 'react';
import { describeError } from '../api/errors';
import { graphql } from '../gql';
import { centsToDollarsInput, formatCents, formatMicros, parseDollarsToCents } from '../lib/money';
import { Modal } from './Modal';
import { useToast } from './Toast';
import './lifecycle.css';

/** DeleteKey deletes a key for good; it answers the key's id. */
export const DeleteKey = graphql(`
  mutation DeleteKey($id: ID!) {
    deleteAPIKey(id: $id)
  }
`);

/** ResetKeyRequests sets a key's request count back to 0. */
export const ResetKeyRequests = graphql(`
  mutation ResetKeyRequests($id: ID!) {
    resetAPIKeyRequestCount(id: $id) {
      ...KeyRowFields
      remainingRequests
    }
  }
`);

/** TopUpKey raises a key's credit quota to a new total. */
export const TopUpKey = graphql(`
  mutation TopUpKey($id: ID!, $cents: Int!) {
    updateAPIKey(id: $id, input: { creditQuotaCents: $cents }) {
      ...KeyRowFields
      creditRemainingMicros
    }
  }
`);

/** CreditRef is what a top-up needs of a key. */
export interface CreditRef {
  id: string;
  label: string;
  creditQuotaCents?: number | null;
  creditUsedMicros: number;
}

/** MAX_QUOTA_CENTS is GraphQL's Int ceiling, in cents. */
const MAX_QUOTA_CENTS = 2_147_483_647;

/**
 * TopUpDialog adds an amount to a key's credit quota (seed: “requests with
 * this token return an error until you top it up”). The quota is all time,
 * so what is spent stays spent; the top-up is what is added on top.
 */
export function TopUpDialog({ target, onClose }: { target: CreditRef | null; onClose(): void }) {
  const toast = useToast();
  const [amount, setAmount] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [topUp, { loading }] = useMutation(TopUpKey, { refetchQueries: 'active' });
  const close = () => {
    setAmount('');
    setError(null);
    onClose();
  };
  const quota = target?.creditQuotaCents ?? 0;
  const add = parseDollarsToCents(amount);
  const total = add !== null ? quota + add : null;
  return (
    <Modal open={!!target} onOpenChange={(o) => !o && close()} title={`Top up “${target?.label ?? ''}”`}>
      <form
        className="form"
        noValidate
        onSubmit={async (e) => {
          e.preventDefault();
          if (!target) return;
          if (add === null || add <= 0) return setError('Enter the amount to add in dollars, such as 10 or 2.50.');
          if (total === null || total > MAX_QUOTA_CENTS) return setError('That quota is too large.');
          setError(null);
          try {
            await topUp({ variables: { id: target.id, cents: total } });
            toast({ tone: 'success', title: `Topped up “${target.label}”`, description: `Its credit quota is now ${formatCents(total)}.` });
            close();
          } catch (err) {
            setError(describeError(err));
          }
        }}
      >
        <p className="muted">
          Quota {formatCents(quota)}, spent {formatMicros(target?.creditUsedMicros ?? 0)}. The quota is all time: the top-up is added to it.
        </p>
        <div className="field">
          <label className="field-label" htmlFor="topup-amount">
            Amount to add
          </label>
          <div className="input-prefix">
            <span aria-hidden="true">$</span>
            <input
              id="topup-amount"
              className="input"
              inputMode="decimal"
              value={amount}
              onChange={(e) => setAmount(e.target.value)}
              aria-invalid={error ? true : undefined}
              aria-describedby="topup-msg"
              autoFocus
            />
          </div>
          <span id="topup-msg" className={error ? 'field-error' : 'field-hint'}>
            {error ?? (total !== null && add ? `New quota: ${formatCents(total)}` : `For example ${centsToDollarsInput(1000)}.`)}
          </span>
        </div>
        <div className="dialog-actions">
          <button type="button" className="button button-secondary" onClick={close}>
            Cancel
          </button>
          <button type="submit" className="button button-primary" disabled={loading}>
            {loading ? 'Topping up…' : 'Top up'}
          </button>
        </div>
      </form>
    </Modal>
  );
}

/** BinIcon is the delete action's bin; the button around it carries the name. */
export function BinIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="2" strokeLinecap="round" strokeLinejoin="round" aria-hidden="true">
      <path d="M3 6h18M8 6V4a2 2 0 0 1 2-2h4a2 2 0 0 1 2 2v2m3 0v14a2 2 0 0 1-2 2H7a2 2 0 0 1-2-2V6M10 11v6M14 11v6" />
    </svg>
  );
}
