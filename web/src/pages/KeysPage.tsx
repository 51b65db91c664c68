import { NetworkStatus, useMutation, useQuery } from '@apollo/client';
import * as DropdownMenu from '@radix-ui/react-dropdown-menu';
import { useEffect, useMemo, useState } from 'react';
import { Link, useNavigate, useParams, useSearchParams } from 'react-router';
import { Checkbox } from '../components/Checkbox';
import { ConfirmDialog } from '../components/ConfirmDialog';
import { CreateKeyDialog } from '../components/CreateKeyDialog';
import { EmptyState, ErrorBanner, Loading, PageHeader, Pager } from '../components/Feedback';
import { canEnable, useKeyActions, type KeyRef } from '../components/KeyActions';
import { BinIcon } from '../components/KeyLifecycle';
import { SelectField } from '../components/SelectField';
import { StatusChip } from '../components/StatusChip';
import { useToast } from '../components/Toast';
import { graphql } from '../gql';
import type { ApiKeyOrderField, ApiKeyStatus, KeyRowFieldsFragment, OrderDirection } from '../gql/graphql';
import { downloadText, keysToCSV } from '../lib/csv';
import { formatCompact, formatCount, formatDay, formatDateTime, formatLimit, formatRelative, truncateID } from '../lib/format';
import { KEY_STATUS } from '../lib/status';
import { ReviewChips, reviewFilter } from '../components/ReviewChips';

/** KeysPageQuery lists one page of a workspace's keys with the filters applied on the server. */
export const KeysPageQuery = graphql(`
  query KeysPage($workspaceID: ID!, $first: Int!, $after: Cursor, $status: APIKeyStatus, $search: String, $orderBy: APIKeyOrder, $review: APIKeyReviewFilter) {
    workspace(id: $workspaceID) {
      id
      name
      viewerRole
      maxKeys
      active
      apiKeys(first: $first, after: $after, status: $status, search: $search, orderBy: $orderBy, review: $review) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            ...KeyRowFields
          }
        }
      }
    }
  }
`);

const RevokeAllKeys = graphql(`
  mutation RevokeAllKeys($workspaceID: ID!) {
    revokeAllAPIKeys(workspaceID: $workspaceID)
  }
`);

/** RevokeKeys revokes the selected keys in one audited action (revokeAPIKeys, at most 100). */
export const RevokeKeys = graphql(`
  mutation RevokeKeys($ids: [ID!]!) {
    revokeAPIKeys(ids: $ids)
  }
`);

/** PAGE_SIZE is how many keys one page shows. */
export const PAGE_SIZE = 25;
/** POLL_MS refreshes counters while the page is open; the gateway ships usage within about a second. */
export const POLL_MS = 5000;

const STATUS_OPTIONS = [{ value: 'ALL', label: 'All statuses' }, ...Object.entries(KEY_STATUS).map(([value, m]) => ({ value, label: m.label }))];

const SORTABLE: { field: ApiKeyOrderField; label: string }[] = [
  { field: 'LABEL', label: 'Label' },
  { field: 'STATUS', label: 'Status' },
  { field: 'CREATED_AT', label: 'Created' },
  { field: 'EXPIRES_AT', label: 'Expires' },
  { field: 'LAST_USED_AT', label: 'Last used' },
  { field: 'REQUEST_COUNT', label: 'Requests' },
];

/** KeysPage is the API key list: filters, sorting, paging, bulk actions and CSV export. */
export default function KeysPage() {
  const { workspaceID = '' } = useParams();
  const [params, setParams] = useSearchParams();
  const navigate = useNavigate();
  const toast = useToast();
  const actions = useKeyActions();

  const status = (params.get('status') ?? 'ALL') as ApiKeyStatus | 'ALL';
  const sortField = (params.get('sort') ?? 'CREATED_AT') as ApiKeyOrderField;
  const sortDir = (params.get('dir') ?? 'DESC') as OrderDirection;
  const [searchText, setSearchText] = useState(params.get('q') ?? '');
  const search = params.get('q') ?? '';
  const review = params.get('review');
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const [creating, setCreating] = useState(false);
  const [bulkConfirm, setBulkConfirm] = useState(false);
  const [allConfirm, setAllConfirm] = useState(false);

  const setParam = (k: string, v: string | null) => {
    const next = new URLSearchParams(params);
    if (v === null || v === '') next.delete(k);
    else next.set(k, v);
    setParams(next, { replace: true });
    setCursors([null]);
    setSelected(new Set());
  };

  // Debounce the search box into the URL (and so into the query).
  useEffect(() => {
    if (searchText === search) return;
    const t = setTimeout(() => setParam('q', searchText.trim() || null), 300);
    return () => clearTimeout(t);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [searchText]);

  const after = cursors[cursors.length - 1];
  const { data, loading, error, refetch, networkStatus } = useQuery(KeysPageQuery, {
    variables: {
      workspaceID,
      first: PAGE_SIZE,
      after,
      status: status === 'ALL' ? null : status,
      search: search || null,
      orderBy: { field: sortField, direction: sortDir },
      review: reviewFilter(review),
    },
    pollInterval: POLL_MS,
    notifyOnNetworkStatusChange: true,
  });
  const [revokeAll] = useMutation(RevokeAllKeys, { refetchQueries: 'active' });
  const [revokeMany] = useMutation(RevokeKeys);

  const ws = data?.workspace;
  const keys = useMemo(() => (ws?.apiKeys.edges ?? []).flatMap((e) => (e?.node ? [e.node] : [])), [ws]);
  const canManage = ws ? ws.viewerRole !== 'VIEWER' : false;
  const filtered = status !== 'ALL' || !!search || !!reviewFilter(review);
  const visibleSelected = keys.filter((k) => selected.has(k.id));

  const toggleSort = (field: ApiKeyOrderField) => {
    const next = new URLSearchParams(params);
    const dir: OrderDirection = sortField === field && sortDir === 'DESC' ? 'ASC' : 'DESC';
    next.set('sort', field);
    next.set('dir', dir);
    setParams(next, { replace: true });
    setCursors([null]);
  };

  const exportCSV = () => {
    const rows = visibleSelected.length ? visibleSelected : keys;
    const stamp = new Date().toISOString().slice(0, 10);
    downloadText(`oais-keys-${ws?.name ?? workspaceID}-${stamp}.csv`.replace(/[^\w.-]+/g, '-'), keysToCSV(rows));
    toast({ tone: 'success', title: `Exported ${rows.length} ${rows.length === 1 ? 'key' : 'keys'} to CSV`, description: 'The file lists masked keys only — no secrets.' });
  };

  if (error && !data) return <ErrorBanner error={error} onRetry={() => refetch()} />;

  return (
    <div className="page">
      <PageHeader
        title="API keys"
        description="Keys authenticate /v1 requests as this workspace. The full secret is shown once, when a key is generated."
        actions={
          canManage && (
            <>
              <button type="button" className="button button-danger-outline" onClick={() => setAllConfirm(true)} disabled={!keys.length && !filtered}>
                Revoke all keys
              </button>
              <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
                + Generate key
              </button>
            </>
          )
        }
      />
      {error && <ErrorBanner error={error} onRetry={() => refetch()} />}
      {ws && !ws.active && (
        <div className="banner banner-warning" role="status">
          This workspace is inactive: every gateway refuses its keys (<code>403 workspace_inactive</code>) and no key can be generated. An owner can
          activate it again on the <Link to={`/w/${workspaceID}/limits`}>Limits</Link> page.
        </div>
      )}

      <div className="toolbar" role="search">
        <SelectField label="Status" hideLabel value={status} options={STATUS_OPTIONS} onChange={(v) => setParam('status', v === 'ALL' ? null : v)} className="toolbar-select" />
        <div className="field toolbar-search">
          <label htmlFor="key-search" className="visually-hidden">
            Search keys
          </label>
          <input id="key-search" className="input" type="search" placeholder="Search by label, ID or last 4" value={searchText} onChange={(e) => setSearchText(e.target.value)} />
        </div>
        <div className="toolbar-spacer" />
        <button type="button" className="button button-secondary" onClick={() => refetch()} disabled={networkStatus === NetworkStatus.refetch}>
          {networkStatus === NetworkStatus.refetch ? 'Refreshing…' : 'Refresh'}
        </button>
        <button type="button" className="button button-secondary" onClick={exportCSV} disabled={!keys.length}>
          {visibleSelected.length ? `Export ${visibleSelected.length} selected` : 'Export CSV'}
        </button>
      </div>

      <ReviewChips value={review} onChange={(v) => setParam('review', v)} />

      {visibleSelected.length > 0 && canManage && (
        <div className="bulkbar" role="region" aria-label="Bulk actions">
          <span>
            {visibleSelected.length} selected
          </span>
          <button type="button" className="button button-danger button-small" onClick={() => setBulkConfirm(true)}>
            Revoke selected
          </button>
          <button type="button" className="button button-ghost button-small" onClick={() => setSelected(new Set())}>
            Clear selection
          </button>
        </div>
      )}

      {loading && !data ? (
        <Loading label="Loading API keys…" />
      ) : !keys.length ? (
        filtered ? (
          <EmptyState title="No keys match these filters">
            <button type="button" className="button button-secondary" onClick={() => { setSearchText(''); setParams(new URLSearchParams(), { replace: true }); }}>
              Clear filters
            </button>
          </EmptyState>
        ) : (
          <EmptyState
            title="No API keys yet — generate one"
            action={
              canManage && (
                <button type="button" className="button button-primary" onClick={() => setCreating(true)}>
                  + Generate key
                </button>
              )
            }
          >
            A key lets an app call the OpenAI-compatible /v1 API through this workspace.
          </EmptyState>
        )
      ) : (
        <div className="table-wrap">
          <table className="table" aria-label="API keys">
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
                <SortHeader field="STATUS" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="CREATED_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="EXPIRES_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="LAST_USED_AT" {...{ sortField, sortDir, toggleSort }} />
                <SortHeader field="REQUEST_COUNT" {...{ sortField, sortDir, toggleSort }} numeric />
                <th scope="col" className="num">
                  Cache hits
                </th>
                <th scope="col" className="col-actions">
                  <span className="visually-hidden">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {keys.map((k) => (
                <KeyRow
                  key={k.id}
                  k={k}
                  workspaceID={workspaceID}
                  selected={selected.has(k.id)}
                  canManage={canManage}
                  onSelect={(c) =>
                    setSelected((s) => {
                      const n = new Set(s);
                      if (c) n.add(k.id);
                      else n.delete(k.id);
                      return n;
                    })
                  }
                  onView={() => navigate(`/w/${workspaceID}/keys/${k.id}`)}
                  actions={actions}
                />
              ))}
            </tbody>
          </table>
        </div>
      )}

      {ws && keys.length > 0 && (
        <Pager
          page={cursors.length}
          hasPrevious={cursors.length > 1}
          hasNext={ws.apiKeys.pageInfo.hasNextPage}
          onPrevious={() => setCursors((c) => c.slice(0, -1))}
          onNext={() => setCursors((c) => [...c, ws.apiKeys.pageInfo.endCursor ?? null])}
          summary={`${formatCount(ws.apiKeys.totalCount)} ${ws.apiKeys.totalCount === 1 ? 'key' : 'keys'}${filtered ? ' match' : ''} · page ${cursors.length}`}
        />
      )}

      <CreateKeyDialog workspaceID={workspaceID} open={creating} onOpenChange={setCreating} />
      {actions.dialogs}
      <ConfirmDialog
        open={bulkConfirm}
        onOpenChange={setBulkConfirm}
        title={`Revoke ${visibleSelected.length} selected ${visibleSelected.length === 1 ? 'key' : 'keys'}?`}
        description={
          <>
            <p>These keys stop working immediately:</p>
            <ul className="compact-list">
              {visibleSelected.slice(0, 8).map((k) => (
                <li key={k.id}>
                  {k.label} <code>{k.maskedKey}</code>
                </li>
              ))}
              {visibleSelected.length > 8 && <li>…and {visibleSelected.length - 8} more</li>}
            </ul>
          </>
        }
        confirmLabel={`Revoke ${visibleSelected.length}`}
        onConfirm={async () => {
          // One mutation, all or nothing, one audit line (revokeAPIKeys).
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
      <ConfirmDialog
        open={allConfirm}
        onOpenChange={setAllConfirm}
        title="Revoke every key in this workspace?"
        description={
          <>
            <p>
              Every active key in <strong>{ws?.name}</strong> stops working immediately. Use this when credentials may have leaked.
            </p>
            <p>This affects all applications using this workspace and cannot be undone in bulk.</p>
          </>
        }
        confirmLabel="Revoke all keys"
        onConfirm={async () => {
          const res = await revokeAll({ variables: { workspaceID } });
          const n = res.data?.revokeAllAPIKeys ?? 0;
          setSelected(new Set());
          toast({ tone: 'success', title: `Revoked ${n} ${n === 1 ? 'key' : 'keys'}`, description: n ? 'Generate replacements and roll them out.' : 'There were no active keys to revoke.' });
        }}
      />
    </div>
  );
}

export function SortHeader({
  field,
  sortField,
  sortDir,
  toggleSort,
  numeric,
  label: labelOverride,
}: {
  field: ApiKeyOrderField;
  label?: string;
  sortField: ApiKeyOrderField;
  sortDir: OrderDirection;
  toggleSort(f: ApiKeyOrderField): void;
  numeric?: boolean;
}) {
  const label = labelOverride ?? SORTABLE.find((s) => s.field === field)?.label ?? field;
  const active = sortField === field;
  return (
    <th scope="col" className={numeric ? 'num' : undefined} aria-sort={active ? (sortDir === 'ASC' ? 'ascending' : 'descending') : 'none'}>
      <button type="button" className={`sort${active ? ' sort-active' : ''}`} onClick={() => toggleSort(field)}>
        {label}
        <span aria-hidden="true" className="sort-arrow">
          {active ? (sortDir === 'ASC' ? '↑' : '↓') : '↕'}
        </span>
      </button>
    </th>
  );
}

function KeyRow({
  k,
  workspaceID,
  selected,
  canManage,
  onSelect,
  onView,
  actions,
}: {
  k: KeyRowFieldsFragment;
  workspaceID: string;
  selected: boolean;
  canManage: boolean;
  onSelect(c: boolean): void;
  onView(): void;
  actions: ReturnType<typeof useKeyActions>;
}) {
  const ref: KeyRef = k;
  return (
    <tr className={selected ? 'selected' : undefined}>
      <td className="col-check">
        <Checkbox label={`Select ${k.label}`} checked={selected} onCheckedChange={onSelect} />
      </td>
      <td className="col-id">
        <Link to={`/w/${workspaceID}/keys/${k.id}`} className="mono link" title={k.id}>
          {truncateID(k.id, 8)}
        </Link>
      </td>
      <td className="cell-key">
        <div className="strong">{k.label}</div>
        <code className="mask">{k.maskedKey}</code>
      </td>
      <td>
        <StatusChip status={k.status} />
      </td>
      <td title={formatDateTime(k.createdAt)}>{formatDay(k.createdAt)}</td>
      <td title={k.expiresAt ? formatDateTime(k.expiresAt) : 'Never expires'}>{k.expiresAt ? formatCompact(k.expiresAt) : 'Never'}</td>
      <td title={k.lastUsedAt ? formatDateTime(k.lastUsedAt) : 'Never used'}>{formatRelative(k.lastUsedAt)}</td>
      <td className="num">
        <span aria-label={`${k.requestCount} of ${k.maxRequests ? k.maxRequests : 'unlimited'} requests`}>
          {formatCount(k.requestCount)} / {formatLimit(k.maxRequests)}
        </span>
      </td>
      <td className="num">{formatCount(k.cacheHits)}</td>
      <td className="col-actions">
        <DropdownMenu.Root>
          <DropdownMenu.Trigger className="icon-button" aria-label={`Actions for ${k.label}`}>
            ⋯
          </DropdownMenu.Trigger>
          <DropdownMenu.Portal>
            <DropdownMenu.Content className="menu" align="end" sideOffset={4}>
              <DropdownMenu.Item className="menu-item" onSelect={onView}>
                View details
              </DropdownMenu.Item>
              {canManage && (
                <DropdownMenu.Item className="menu-item" onSelect={() => actions.edit(ref)}>
                  Edit…
                </DropdownMenu.Item>
              )}
              {canManage && k.maxRequests > 0 && (
                <DropdownMenu.Item className="menu-item" onSelect={() => actions.resetRequests(ref)}>
                  Reset request count…
                </DropdownMenu.Item>
              )}
              {canManage && k.status === 'ACTIVE' && (
                <DropdownMenu.Item className="menu-item" onSelect={() => void actions.setStatus(ref, 'DISABLED')}>
                  Disable
                </DropdownMenu.Item>
              )}
              {canManage && canEnable(ref) && (
                <DropdownMenu.Item className="menu-item" onSelect={() => void actions.setStatus(ref, 'ACTIVE')}>
                  {k.status === 'REVOKED' ? 'Re-activate' : 'Enable'}
                </DropdownMenu.Item>
              )}
              {canManage && k.status !== 'REVOKED' && (
                <DropdownMenu.Item className="menu-item" onSelect={() => actions.rotate(ref)}>
                  Rotate…
                </DropdownMenu.Item>
              )}
              {canManage && k.status !== 'REVOKED' && (
                <>
                  <DropdownMenu.Separator className="menu-sep" />
                  <DropdownMenu.Item className="menu-item menu-danger" onSelect={() => actions.revoke(ref)}>
                    Revoke…
                  </DropdownMenu.Item>
                </>
              )}
            </DropdownMenu.Content>
          </DropdownMenu.Portal>
        </DropdownMenu.Root>
        {canManage && (
          <button type="button" className="icon-button icon-danger" aria-label={`Delete ${k.label}`} title="Delete key" onClick={() => actions.remove(ref)}>
            <BinIcon />
          </button>
        )}
      </td>
    </tr>
  );
}

