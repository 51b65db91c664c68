import { useQuery } from '@apollo/client';
import { Link, useNavigate, useParams } from 'react-router';
import { EmptyState, ErrorBanner, Loading } from '../components/Feedback';
import { canEnable, useKeyActions } from '../components/KeyActions';
import { BinIcon } from '../components/KeyLifecycle';
import { StatusChip } from '../components/StatusChip';
import { graphql } from '../gql';
import { formatCents, formatCost, formatMicros, spendPercent } from '../lib/money';
import { formatCompact, formatCount, formatDateTime, formatLimit, formatRelative } from '../lib/format';
import { POLL_MS } from './KeysPage';

const KeyDetail = graphql(`
  query KeyDetail($id: ID!) {
    node(id: $id) {
      __typename
      ... on APIKey {
        ...KeyRowFields
        workspaceID
        allowedModels
        ipAllowlist
        remainingRequests
        revokedAt
        leakedAt
        leakSource
        rotatedFromID
        rpm
        tpm
        cacheEnabled
        creditRemainingMicros
        createdBy {
          id
          email
        }
        usage {
          requests
          totalTokens
          costMicros
          cacheHits
          errors
        }
        requestLog(first: 50) {
          id
          requestID
          occurredAt
          model
          endpoint
          stream
          promptTokens
          completionTokens
          costMicros
          status
          latencyMs
          cacheHit
          source
        }
      }
    }
  }
`);

/** keyStats derives the usage tiles of the product guide: REQUESTS, CACHED, UPSTREAM, LIMIT, REMAINING. */
export function keyStats(k: { requestCount: number; cacheHits: number; maxRequests: number; remainingRequests?: number | null }) {
  const upstream = Math.max(0, k.requestCount - k.cacheHits);
  const remaining = k.maxRequests ? (k.remainingRequests ?? Math.max(0, k.maxRequests - k.requestCount)) : null;
  return { requests: k.requestCount, cached: k.cacheHits, upstream, limit: k.maxRequests, remaining };
}

/** KeyDetailPage shows one key: its settings, timestamps, usage and request log. */
export default function KeyDetailPage() {
  const { workspaceID = '', keyID = '' } = useParams();
  const navigate = useNavigate();
  const actions = useKeyActions({ onDeleted: () => navigate(`/w/${workspaceID}/keys`, { replace: true }) });
  const { data, loading, error, refetch } = useQuery(KeyDetail, { variables: { id: keyID }, pollInterval: POLL_MS });
  const node = data?.node;
  const k = node?.__typename === 'APIKey' && node.workspaceID === workspaceID ? node : null;

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;
  if (loading && !data) return <Loading label="Loading key…" />;
  if (!k) {
    return (
      <EmptyState title="Key not found" action={<Link className="button button-secondary" to={`/w/${workspaceID}/keys`}>Back to API keys</Link>}>
        It doesn't exist, or it belongs to another workspace.
      </EmptyState>
    );
  }
  const s = keyStats(k);
  return (
    <div className="page">
      <nav aria-label="Breadcrumb" className="breadcrumb">
        <Link to={`/w/${workspaceID}/keys`}>API keys</Link> <span aria-hidden="true">/</span> <span>{k.label}</span>
      </nav>
      <header className="page-header">
        <div>
          <h1 className="title-with-chip">
            {k.label} <StatusChip status={k.status} />
          </h1>
          <p className="page-desc">
            <code className="mask">{k.maskedKey}</code>
          </p>
        </div>
        <div className="page-actions">
          <button type="button" className="button button-secondary" onClick={() => actions.edit(k)}>
            Edit
          </button>
          {k.maxRequests > 0 && (
            <button type="button" className="button button-secondary" onClick={() => actions.resetRequests(k)}>
              Reset request count
            </button>
          )}
          {k.status === 'ACTIVE' && (
            <button type="button" className="button button-secondary" onClick={() => actions.setStatus(k, 'DISABLED')}>
              Disable
            </button>
          )}
          {canEnable(k) && (
            <button type="button" className="button button-secondary" onClick={() => actions.setStatus(k, 'ACTIVE')}>
              {k.status === 'REVOKED' ? 'Re-activate' : 'Enable'}
            </button>
          )}
          {k.status !== 'REVOKED' && (
            <>
              <button type="button" className="button button-secondary" onClick={() => actions.rotate(k)}>
                Rotate
              </button>
              <button type="button" className="button button-danger" onClick={() => actions.revoke(k)}>
                Revoke
              </button>
            </>
          )}
          <button type="button" className="icon-button icon-danger" aria-label={`Delete ${k.label}`} title="Delete key" onClick={() => actions.remove(k)}>
            <BinIcon />
          </button>
        </div>
      </header>
      {error && <ErrorBanner error={error} onRetry={() => refetch()} />}

      <section aria-label="Usage statistics" className="stats">
        <Stat label="Requests" value={formatCount(s.requests)} />
        <Stat label="Cached" value={formatCount(s.cached)} />
        <Stat label="Upstream" value={formatCount(s.upstream)} />
        <Stat label="Limit" value={formatLimit(s.limit)} />
        <Stat label="Remaining" value={s.remaining === null ? '∞' : formatCount(s.remaining)} />
      </section>

      <section className="card" aria-labelledby="credit-h">
        <div className="card-head">
          <h2 id="credit-h">Credit</h2>
          {k.creditQuotaCents ? (
            <button type="button" className="button button-secondary button-small" onClick={() => actions.topUp(k)}>
              Top up…
            </button>
          ) : (
            <button type="button" className="button button-secondary button-small" onClick={() => actions.edit(k)}>
              Set a quota…
            </button>
          )}
        </div>
        {k.creditQuotaCents ? (
          <>
            <p>
              Spent {formatMicros(k.creditUsedMicros)} of {formatCents(k.creditQuotaCents)} —{' '}
              <strong>{formatMicros(k.creditRemainingMicros ?? 0)} left</strong>
              {(k.creditRemainingMicros ?? 0) <= 0 && <span className="muted"> (exhausted: requests get 429 insufficient_quota until you top it up)</span>}
            </p>
            <div
              className={`credit-bar${(k.creditRemainingMicros ?? 0) <= 0 ? ' credit-bar-full' : ''}`}
              role="progressbar"
              aria-label="Credit used"
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={spendPercent(k.creditUsedMicros, k.creditQuotaCents)}
            >
              <span style={{ width: `${spendPercent(k.creditUsedMicros, k.creditQuotaCents)}%` }} />
            </div>
          </>
        ) : (
          <p className="muted">No credit quota: the key spends from the workspace without a limit of its own. Spent so far: {formatMicros(k.creditUsedMicros)}.</p>
        )}
      </section>

      <div className="grid-2">
        <section className="card" aria-labelledby="basic-h">
          <h2 id="basic-h">Basic information</h2>
          <dl className="deflist">
            <dt>Key ID</dt>
            <dd className="mono">{k.id}</dd>
            <dt>Status</dt>
            <dd>
              <StatusChip status={k.status} />
              {k.revokeReason && <span className="muted"> ({k.revokeReason.toLowerCase()})</span>}
            </dd>
            <dt>Created by</dt>
            <dd>{k.createdBy?.email ?? '—'}</dd>
            <dt>Allowed models</dt>
            <dd>{k.allowedModels?.length ? k.allowedModels.join(', ') : 'Every model'}</dd>
            <dt>IP allow-list</dt>
            <dd>{k.ipAllowlist?.length ? k.ipAllowlist.join(', ') : 'Any address'}</dd>
            <dt>Response cache</dt>
            <dd>{k.cacheEnabled ? 'On' : 'Off'}</dd>
            <dt>Cost to date</dt>
            <dd>{formatCost(k.usage.costMicros)}</dd>
            {k.rotatedFromID && (
              <>
                <dt>Replaces</dt>
                <dd>
                  <Link className="link mono" to={`/w/${workspaceID}/keys/${k.rotatedFromID}`}>
                    {k.rotatedFromID}
                  </Link>
                </dd>
              </>
            )}
            {k.leakedAt && (
              <>
                <dt>Reported leaked</dt>
                <dd>
                  {formatDateTime(k.leakedAt)}
                  {k.leakSource ? ` — ${k.leakSource}` : ''}
                </dd>
              </>
            )}
          </dl>
        </section>
        <section className="card" aria-labelledby="times-h">
          <h2 id="times-h">Timestamps</h2>
          <dl className="deflist">
            <dt>Created</dt>
            <dd>{formatDateTime(k.createdAt)}</dd>
            <dt>Last used</dt>
            <dd>{k.lastUsedAt ? `${formatDateTime(k.lastUsedAt)} (${formatRelative(k.lastUsedAt)})` : 'Never'}</dd>
            <dt>Expires</dt>
            <dd>{k.expiresAt ? `${formatDateTime(k.expiresAt)} (${formatRelative(k.expiresAt)})` : 'Never'}</dd>
            {k.requestsResetAt && (
              <>
                <dt>Requests counted since</dt>
                <dd>{formatDateTime(k.requestsResetAt)} (reset)</dd>
              </>
            )}
            {k.graceUntil && (
              <>
                <dt>Grace ends</dt>
                <dd>{formatDateTime(k.graceUntil)}</dd>
              </>
            )}
            {k.revokedAt && (
              <>
                <dt>Revoked</dt>
                <dd>{formatDateTime(k.revokedAt)}</dd>
              </>
            )}
          </dl>
        </section>
      </div>

      <section className="card" aria-labelledby="log-h">
        <div className="card-head">
          <h2 id="log-h">Request log</h2>
          <Link className="button button-ghost button-small" to={`/w/${workspaceID}/logs?key=${encodeURIComponent(k.id)}`}>
            All of this key's requests in Logs
          </Link>
          <button type="button" className="button button-secondary button-small" onClick={() => refetch()}>
            Refresh
          </button>
        </div>
        {k.requestLog.length === 0 ? (
          <p className="muted">No requests yet. Calls to /v1 with this key appear here within a few seconds.</p>
        ) : (
          <div className="table-wrap">
            <table className="table" aria-label="Request log">
              <thead>
                <tr>
                  <th scope="col">Time</th>
                  <th scope="col">Model</th>
                  <th scope="col" className="num">
                    Tokens
                  </th>
                  <th scope="col">Status</th>
                  <th scope="col" className="num">
                    Latency
                  </th>
                  <th scope="col">Source</th>
                  <th scope="col" className="num">
                    Cost
                  </th>
                </tr>
              </thead>
              <tbody>
                {k.requestLog.map((r) => (
                  <tr key={r.id}>
                    <td title={`${formatDateTime(r.occurredAt)} · ${r.requestID}`}>{formatCompact(r.occurredAt)}</td>
                    <td className="mono">{r.model}</td>
                    <td className="num" title={`${r.promptTokens} prompt + ${r.completionTokens} completion`}>
                      {formatCount(r.promptTokens + r.completionTokens)}
                    </td>
                    <td>
                      <span className={`http http-${Math.floor(r.status / 100)}xx`}>{r.status}</span>
                    </td>
                    <td className="num">{formatCount(r.latencyMs)} ms</td>
                    <td>{r.cacheHit ? 'cache' : r.source}</td>
                    <td className="num">{formatCost(r.costMicros)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </section>
      {actions.dialogs}
    </div>
  );
}

function Stat({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
    </div>
  );
}
