import { useMutation, useQuery } from '@apollo/client';
import { useEffect, useMemo, useState } from 'react';
import { Link, useSearchParams } from 'react-router';
import { Checkbox } from '../components/Checkbox';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { EmptyState, ErrorBanner, Loading, PageHeader, Pager } from '../components/Feedback';
import { ReviewChips, reviewFilter } from '../components/ReviewChips';
import { SelectField } from '../components/SelectField';
import { StatusChip } from '../components/StatusChip';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import type { ApiKeyOrderField, ApiKeyStatus, OrderDirection } from '../gql/graphql';
import { csvField, downloadText, keysToCSV } from '../lib/csv';
import { formatCompact, formatCount, formatDateTime, formatDay, formatLimit, formatRelative, truncateID } from '../lib/format';
import { KEY_STATUS } from '../lib/status';
import { PAGE_SIZE, POLL_MS, RevokeKeys, SortHeader } from './KeysPage';

/** AllKeysQuery lists one page of every key the viewer may see, across workspaces (Query.apiKeys). */
export const AllKeysQuery = graphql(`
  query AllKeys($first: Int!, $after: Cursor, $status: APIKeyStatus, $search: String, $orderBy: APIKeyOrder, $workspaceIDs: [ID!], $review: APIKeyReviewFilter) {
    viewer {
      id
      memberships {
        id
        role
        workspace {
          id
          name
        }
      }
    }
    apiKeys(first: $first, after: $after, status: $status, search: $search, orderBy: $orderBy, workspaceIDs: $workspaceIDs, review: $review) {
      totalCount
      pageInfo {
        hasNextPage
        endCursor
      }
      edges {
        node {
          ...KeyRowFields
          workspace {
            id
            name
          }
        }
      }
    }
  }
`);

const STATUS_OPTIONS = [{ value: 'ALL', label: 'All statuses' }, ...Object.entries(KEY_STATUS).map(([value, m]) => ({ value, label: m.label }))];

/** AllKeysPage is every key of every workspace the viewer belongs to, with a workspace column and filter. */
export default function AllKeysPage() {
  const [params, setParams] = useSearchParams();
  const toast = useToast();
  const status = (params.get('status') ?? 'ALL') as ApiKeyStatus | 'ALL';
  const wsFilter = params.get('ws') ?? 'ALL';
  const review = params.get('review');
  const sortField = (params.get('sort') ?? 'CREATED_AT') as ApiKeyOrderField;
  const sortDir = (params.get('dir') ?? 'DESC') as OrderDirection;
  const search = params.get('q') ?? '';
  const [searchText, setSearchText] = useState(search);
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [bulkConfirm, setBulkConfirm] = useState(false);

  const setParam = (k: string, v: string | null) => {
    const next = new URLSearchParams(params);
    if (v === null || v === '') next.delete(k);
    else next.set(k, v);
    setParams(next, { replace: true });
    setCursors([null]);
    setSelected(new Set());
  };
  useEffect(() => {
    if (searchText === search) return;
    const t = setTimeout(() => setParam('q', searchText.trim() || null), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [searchText]);

  const { data, loading, error, refetch } = useQuery(AllKeysQuery, {
    variables: {
      first: PAGE_SIZE,
      after: cursors[cursors.length - 1],
      status: status === 'ALL' ? null : status,
      search: search || null,
      orderBy: { field: sortField, direction: sortDir },
      workspaceIDs: wsFilter === 'ALL' ? null : [wsFilter],
      review: reviewFilter(review),
    },
    pollInterval: POLL_MS,
  });
  const [revokeMany] = useMutation(RevokeKeys);

  const keys = useMemo(() => (data?.apiKeys.edges ?? []).flatMap((e) => (e?.node ? [e.node] : [])), [data]);
  const memberships = data?.viewer.memberships ?? [];
  const manages = new Set(memberships.filter((m) => m.role === 'OWNER' || m.role === 'ADMIN').map((m) => m.workspace.id));
  const wsOptions = [{ value: 'ALL', label: 'All workspaces' }, ...memberships.map((m) => ({ value: m.workspace.id, label: m.workspace.name }))];
  const visibleSelected = keys.filter((k) => selected.has(k.id));
  const filtered = status !== 'ALL' || !!search || wsFilter !== 'ALL' || !!reviewFilter(review);

  const toggleSort = (field: ApiKeyOrderField) => {
    const next = new URLSearchParams(params);
    next.set('sort', field);
    next.set('dir', sortField === field && sortDir === 'DESC' ? 'ASC' : 'DESC');
    setParams(next, { replace: true });
    setCursors([null]);
  };

  const exportCSV = () => {
    const rows = visibleSelected.length ? visibleSelected : keys;
    // The workspace export plus a workspace column in front.
    const lines = keysToCSV(rows).split('\r\n');
    const out = lines.map((l, i) => (l === '' ? l : `${i === 0 ? 'workspace' : csvField(rows[i - 1].workspace.name)},${l}`));
    downloadText(`oais-all-keys-${new Date().toISOString().slice(0, 10)}.csv`, out.join('\r\n'));
    toast({ tone: 'success', title: `Exported ${rows.length} ${rows.length === 1 ? 'key' : 'keys'} to CSV`, description: 'The file lists masked keys only — no secrets.' });
  };

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;

  return (
    <div className="page">
      <PageHeader title="All keys" description="Every API key of every workspace you belong to. Open a key to edit it in its workspace." />
      <div className="toolbar" role="search">
        <SelectField label="Workspace" hideLabel value={wsFilter} options={wsOptions} onChange={(v) => setParam('ws', v === 'ALL' ? null : v)} className="toolbar-select" />
        <SelectField label="Status" hideLabel value={status} options={STATUS_OPTIONS} onChange={(v) => setParam('status', v === 'ALL' ? null : v)} className="toolbar-select" />
        <div className="field toolbar-search">
          <label htmlFor="all-key-search" className="visually-hidden">
            Search keys
          </label>
          <input id="all-key-search" className="input" type="search" placeholder="Search by label, ID or last 4" value={searchText} onChange={(e) => setSearchText(e.target.value)} />
        </div>
        <div className="toolbar-spacer" />
        <button type="button" className="button button-secondary" onClick={exportCSV} disabled={!keys.length}>
          {visibleSelected.length ? `Export ${visibleSelected.length} selected` : 'Export CSV'}
        </button>
      </div>
      <ReviewChips value={review} onChange={(v) => setParam('review', v)} />

      {visibleSelected.length > 0 && (
        <div className="bulkbar" role="region" aria-label="Bulk actions">
          <span>{visibleSelected.length} selected</span>
          <button type="button" className="button button-danger button-small" onClick={() => setBulkConfirm(true)}>
            Revoke selected
          </button>
          <button type="button" className="button button-ghost button-small" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        </div>
      )}

      {loading && !data ? (
        <Loading label="Loading keys…" />
      ) : !keys.length ? (
        <EmptyState title={filtered ? 'No keys match these filters' : 'No API keys yet'}>
          {filtered ? 'Clear a filter to see more keys.' : 'Generate a key on a workspace’s API keys page.'}
        </EmptyState>
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="All keys">
            <thead>
              <tr>
                <th scope="col" className="col-check">
                  <Checkbox
                    label="Select all keys on this page"
                    checked={visibleSelected.length === 0 ? false : visibleSelected.length === keys.length ? true : 'indeterminate'}
                    onCheckedChange={(c) => setSelected(c ? new Set(keys.map((k) => k.id)) : new Set())}
                  />
                </th>
                <th scope="col" className="col-id">ID</th>
                <SortHeader field="LABEL" label="Label / key" {...{ sortField, sortDir, toggleSort }} />
                <th scope="col">Workspace</th>
                <SortHeader field="STATUS" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="CREATED_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="EXPIRES_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="LAST_USED_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="REQUEST_COUNT" {...{ sortField, sortDir, toggleSort }} numeric />
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <tr key={k.id} className={selected.has(k.id) ? 'selected' : undefined}>
                  <td className="col-check">
                    <Checkbox
                      label={`Select ${k.label}`}
                      checked={selected.has(k.id)}
                      onCheckedChange={(c) =>
                        setSelected((s) => {
                          const n = new Set(s);
                          if (c) n.add(k.id);
                          else n.delete(k.id);
                          return n;
                        })
                      }
                    />
                  </td>
                  <td className="col-id">
                    <Link to={`/w/${k.workspace.id}/keys/${k.id}`} className="mono link" title={k.id}>
                      {truncateID(k.id, 8)}
                    </Link>
                  </td>
                  <td className="cell-key">
                    <div className="strong">{k.label}</div>
                    <code className="mask">{k.maskedKey}</code>
                  </td>
                  <td>
                    <Link to={`/w/${k.workspace.id}/keys`} className="link">
                      {k.workspace.name}
                    </Link>
                  </td>
                  <td>
                    <StatusChip status={k.status} />
                  </td>
                  <td title={formatDateTime(k.createdAt)}>{formatDay(k.createdAt)}</td>
                  <td title={k.expiresAt ? formatDateTime(k.expiresAt) : 'Never expires'}>{k.expiresAt ? formatCompact(k.expiresAt) : 'Never'}</td>
                  <td title={k.lastUsedAt ? formatDateTime(k.lastUsedAt) : 'Never used'}>{formatRelative(k.lastUsedAt)}</td>
                  <td className="num">
                    {formatCount(k.requestCount)} / {formatLimit(k.maxRequests)}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}

      {data && keys.length > 0 && (
        <Pager
          page={cursors.length}
          hasPrevious={cursors.length > 1}
          hasNext={data.apiKeys.pageInfo.hasNextPage}
          onPrevious={() => setCursors((c) => c.slice(0, -1))}
          onNext={() => setCursors((c) => [...c, data.apiKeys.pageInfo.endCursor ?? null])}
          summary={`${formatCount(data.apiKeys.totalCount)} ${data.apiKeys.totalCount === 1 ? 'key' : 'keys'}${filtered ? ' match' : ''} · page ${cursors.length}`}
        />
      )}

      <ConfirmDialog
        open={bulkConfirm}
        onOpenChange={setBulkConfirm}
        title={`Revoke ${visibleSelected.length} selected ${visibleSelected.length === 1 ? 'key' : 'keys'}?`}
        description={
          <>
            <p>These keys stop working immediately{visibleSelected.some((k) => !manages.has(k.workspace.id)) ? '; keys of workspaces where you are not an owner or admin may be refused' : ''}:</p>
            <ul className="compact-list">
              {visibleSelected.slice(0, 8).map((k) => (
                <li key={k.id}>
                  {k.label} <code>{k.maskedKey}</code> · {k.workspace.name}
                </li>
              ))}
              {visibleSelected.length > 8 && <li>…and {visibleSelected.length - 8} more</li>}
            </ul>
          </>
        }
        confirmLabel={`Revoke ${visibleSelected.length}`}
        onConfirm={async () => {
          try {
            const res = await revokeMany({ variables: { ids: visibleSelected.map((k) => k.id) } });
            const n = res.data?.revokeAPIKeys ?? 0;
            toast({ tone: 'success', title: `Revoked ${n} ${n === 1 ? 'key' : 'keys'}` });
          } catch (e) {
            toast({ tone: 'error', title: 'Nothing was revoked', description: e instanceof Error ? e.message : 'Check your role and try again.' });
          }
          setSelected(new Set());
          await refetch();
        }}
      />
    </div>
  );
}
