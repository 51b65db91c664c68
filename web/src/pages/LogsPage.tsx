import { useQuery } from '@apollo/client';
import { useEffect, useMemo, useState } from 'react';
import { Link, useParams, useSearchParams } from 'react-router';
import '../components/review.css';
import { EmptyState, ErrorBanner, Loading, PageHeader, Pager } from '../components/Feedback';
import { SelectField } from '../components/SelectField';
import { graphql } from '../gql';
import type { RequestLogWhere } from '../gql/graphql';
import { formatCompact, formatCount, formatDateTime, truncateID } from '../lib/format';

/** LogsPageQuery reads one page of the workspace's request log, and its keys for the Token filter. */
export const LogsPageQuery = graphql(`
  query LogsPage($workspaceID: ID!, $first: Int!, $after: Cursor, $where: RequestLogWhere) {
    workspace(id: $workspaceID) {
      id
      name
      keys: apiKeys(first: 500, orderBy: { field: LABEL, direction: ASC }) {
        edges {
          node {
            id
            label
            maskedKey
          }
        }
      }
      requestLog(first: $first, after: $after, where: $where) {
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
            requestID
            occurredAt
            apiKeyID
            model
            endpoint
            status
            promptTokens
            completionTokens
            costMicros
            latencyMs
            cacheHit
            errorCode
          }
        }
      }
    }
  }
`);

/** LOG_PAGE is how many requests one page shows. */
export const LOG_PAGE = 50;

const STATUS_OPTIONS = [
  { value: 'ALL', label: 'All statuses' },
  { value: 'OK', label: 'Answered (< 400)' },
  { value: 'FAILED', label: 'Refused or failed (≥ 400)' },
  { value: '401', label: '401 authentication' },
  { value: '403', label: '403 forbidden' },
  { value: '429', label: '429 limits' },
  { value: '502', label: '502 upstream' },
  { value: '504', label: '504 timeout' },
];

/** formatMicros shows micro-dollars as dollars with enough places for small amounts. */
export function formatMicros(m: number): string {
  if (m === 0) return '$0';
  const d = m / 1e6;
  return d >= 0.01 ? `$${d.toFixed(4)}` : `${formatCount(m)} µ$`;
}

// toISO turns a datetime-local value (the browser's local time) into RFC 3339.
function toISO(local: string | null): string | null {
  if (!local) return null;
  const d = new Date(local);
  return Number.isNaN(d.getTime()) ? null : d.toISOString();
}

/** LogsPage is the per-request log (seed 003 "Logs … Use the Token filter"): newest first, paged with cursors. */
export default function LogsPage() {
  const { workspaceID = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const key = params.get('key') ?? 'ALL';
  const status = params.get('status') ?? 'ALL';
  const model = params.get('model') ?? '';
  const from = params.get('from');
  const to = params.get('to');
  const [modelText, setModelText] = useState(model);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);

  const setParam = (k: string, v: string | null) => {
    const next = new URLSearchParams(params);
    if (v === null || v === '') next.delete(k);
    else next.set(k, v);
    setParams(next, { replace: true });
    setCursors([null]);
  };
  useEffect(() => {
    if (modelText === model) return;
    const t = setTimeout(() => setParam('model', modelText.trim() || null), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [modelText]);

  const where: RequestLogWhere = {};
  if (key !== 'ALL') where.apiKeyID = key;
  if (model) where.model = model;
  if (status === 'OK') where.failed = false;
  else if (status === 'FAILED') where.failed = true;
  else if (status !== 'ALL') where.status = Number(status);
  if (toISO(from)) where.from = toISO(from);
  if (toISO(to)) where.to = toISO(to);

  const { data, loading, error, refetch } = useQuery(LogsPageQuery, {
    variables: { workspaceID, first: LOG_PAGE, after: cursors[cursors.length - 1], where },
    pollInterval: cursors.length === 1 ? 5000 : 0,
  });
  const ws = data?.workspace;
  const keys = useMemo(() => (ws?.keys.edges ?? []).flatMap((e) => (e?.node ? [e.node] : [])), [ws]);
  const labels = useMemo(() => new Map(keys.map((k) => [k.id, k.label])), [keys]);
  const rows = (ws?.requestLog.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));
  const keyOptions = [{ value: 'ALL', label: 'All tokens' }, ...keys.map((k) => ({ value: k.id, label: `${k.label} (${k.maskedKey.slice(-4)})` }))];
  const filtered = key !== 'ALL' || status !== 'ALL' || !!model || !!from || !!to;

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;

  return (
    <div className="page">
      <PageHeader title="Logs" description="Every request of this workspace's keys, newest first: answers, refusals and failures, with tokens, cost and latency. Never prompt bodies." />
      <div className="toolbar" role="search">
        <SelectField label="Token" hideLabel value={key} options={keyOptions} onChange={(v) => setParam('key', v === 'ALL' ? null : v)} className="toolbar-select" />
        <SelectField label="Status" hideLabel value={status} options={STATUS_OPTIONS} onChange={(v) => setParam('status', v === 'ALL' ? null : v)} className="toolbar-select" />
        <div className="field">
          <label htmlFor="log-model" className="visually-hidden">
            Model
          </label>
          <input id="log-model" className="input toolbar-input" type="search" placeholder="Model" value={modelText} onChange={(e) => setModelText(e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="log-from" className="visually-hidden">
            From
          </label>
          <input id="log-from" className="input toolbar-input" type="datetime-local" title="From" value={from ?? ''} onChange={(e) => setParam('from', e.target.value)} />
        </div>
        <div className="field">
          <label htmlFor="log-to" className="visually-hidden">
            To
          </label>
          <input id="log-to" className="input toolbar-input" type="datetime-local" title="To" value={to ?? ''} onChange={(e) => setParam('to', e.target.value)} />
        </div>
        <div className="toolbar-spacer" />
        <button type="button" className="button button-secondary" onClick={() => refetch()}>
          Refresh
        </button>
      </div>

      {loading && !data ? (
        <Loading label="Loading the request log…" />
      ) : !rows.length ? (
        <EmptyState title={filtered ? 'No requests match these filters' : 'No requests yet'}>
          {filtered ? 'Clear a filter or widen the time range.' : 'Requests appear here about a second after a gateway answers them.'}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="Request log">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Token</th>
                <th scope="col">Model</th>
                <th scope="col">Status</th>
                <th scope="col" className="num">
                  Prompt
                </th>
                <th scope="col" className="num">
                  Completion
                </th>
                <th scope="col" className="num">
                  Cost
                </th>
                <th scope="col" className="num">
                  Latency
                </th>
                <th scope="col">Cached</th>
                <th scope="col">Error</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.id}>
                  <td title={`${formatDateTime(r.occurredAt)} · ${r.requestID}`}>{formatCompact(r.occurredAt)}</td>
                  <td>
                    <Link to={`/w/${workspaceID}/keys/${r.apiKeyID}`} className="link" title={r.apiKeyID}>
                      {labels.get(r.apiKeyID) ?? truncateID(r.apiKeyID, 8)}
                    </Link>
                  </td>
                  <td className="mono">{r.model}</td>
                  <td>{r.status}</td>
                  <td className="num">{formatCount(r.promptTokens)}</td>
                  <td className="num">{formatCount(r.completionTokens)}</td>
                  <td className="num">{formatMicros(r.costMicros)}</td>
                  <td className="num">{formatCount(r.latencyMs)} ms</td>
                  <td>{r.cacheHit ? 'Yes' : 'No'}</td>
                  <td>{r.errorCode ? <span className="log-error">{r.errorCode}</span> : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {ws && rows.length > 0 && (
        <Pager
          page={cursors.length}
          hasPrevious={cursors.length > 1}
          hasNext={ws.requestLog.pageInfo.hasNextPage}
          onPrevious={() => setCursors((c) => c.slice(0, -1))}
          onNext={() => setCursors((c) => [...c, ws.requestLog.pageInfo.endCursor ?? null])}
          summary={`Page ${cursors.length} · newest first`}
        />
      )}
    </div>
  );
}
