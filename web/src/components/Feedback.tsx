import type { ReactNode } from 'react';
import { describeError } from '../api/errors';

/** ErrorBanner shows an API error in words, with an optional retry. */
export function ErrorBanner({ error, onRetry }: { error: unknown; onRetry?: () => void }) {
  if (!error) return null;
  return (
    <div className="banner banner-error" role="alert">
      <span>{describeError(error)}</span>
      {onRetry && (
        <button type="button" className="button button-secondary button-small" onClick={onRetry}>
          Try again
        </button>
      )}
    </div>
  );
}

/** Loading is a labelled placeholder while a query runs. */
export function Loading({ label = 'Loading…' }: { label?: string }) {
  return (
    <div className="loading" role="status" aria-live="polite">
      <span className="spinner" aria-hidden="true" />
      {label}
    </div>
  );
}

/** EmptyState fills a list that has nothing in it, and says what to do next. */
export function EmptyState({ title, children, action }: { title: string; children?: ReactNode; action?: ReactNode }) {
  return (
    <div className="empty">
      <p className="empty-title">{title}</p>
      {children && <p className="empty-body">{children}</p>}
      {action}
    </div>
  );
}

/** PageHeader is a page's title row with its primary actions. */
export function PageHeader({ title, description, actions }: { title: string; description?: ReactNode; actions?: ReactNode }) {
  return (
    <header className="page-header">
      <div>
        <h1>{title}</h1>
        {description && <p className="page-desc">{description}</p>}
      </div>
      {actions && <div className="page-actions">{actions}</div>}
    </header>
  );
}

/** Pager is previous/next navigation over a cursor connection. */
export function Pager({
  page,
  hasPrevious,
  hasNext,
  onPrevious,
  onNext,
  summary,
}: {
  page: number;
  hasPrevious: boolean;
  hasNext: boolean;
  onPrevious(): void;
  onNext(): void;
  summary?: string;
}) {
  return (
    <nav className="pager" aria-label="Pagination">
      <span className="muted">{summary ?? `Page ${page}`}</span>
      <div className="pager-buttons">
        <button type="button" className="button button-secondary button-small" disabled={!hasPrevious} onClick={onPrevious}>
          ← Previous
        </button>
        <button type="button" className="button button-secondary button-small" disabled={!hasNext} onClick={onNext}>
          Next →
        </button>
      </div>
    </nav>
  );
}
