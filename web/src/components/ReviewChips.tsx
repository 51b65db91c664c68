import './review.css';
import type { ApiKeyReviewFilter } from '../gql/graphql';

/** REVIEWS are the quick review filters of seed 000's "Monitoring best practices", by URL value. */
export const REVIEWS: Record<string, { label: string; title: string; filter: ApiKeyReviewFilter }> = {
  unused: { label: 'Unused 30+ days', title: 'No request in the last 30 days, never-used keys included', filter: { unusedDays: 30 } },
  expiring: { label: 'Expiring in 7 days', title: 'Keys that expire within the next 7 days', filter: { expiringWithinDays: 7 } },
  near: { label: 'Near a limit', title: 'Keys that used 80% or more of their request limit or credit quota', filter: { nearLimitPercent: 80 } },
};

/** reviewFilter returns the filter of a URL value, or null for none or an unknown one. */
export function reviewFilter(value: string | null): ApiKeyReviewFilter | null {
  return (value && REVIEWS[value]?.filter) || null;
}

/** ReviewChips are toggle buttons that pick one review filter (or none) for a key list. */
export function ReviewChips({ value, onChange }: { value: string | null; onChange(v: string | null): void }) {
  return (
    <div className="review-chips" role="group" aria-label="Review filters">
      {Object.entries(REVIEWS).map(([k, r]) => (
        <button
          key={k}
          type="button"
          className={`chip-toggle${value === k ? ' chip-toggle-on' : ''}`}
          aria-pressed={value === k}
          title={r.title}
          onClick={() => onChange(value === k ? null : k)}
        >
          {r.label}
        </button>
      ))}
    </div>
  );
}
