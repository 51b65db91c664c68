import { useQuery } from '@apollo/client';
import { useEffect, useState } from 'react';
import { useParams } from 'react-router';
import { EmptyState, ErrorBanner, Loading, PageHeader, Pager } from '../components/Feedback';
import { SelectField } from '../components/SelectField';
import { graphql } from '../gql';
import type { AuditEventWhereInput } from '../gql/graphql';
import { formatCompact, formatCount, formatDateTime } from '../lib/format';

const AuditPageQuery = graphql(`
  query AuditPage($workspaceID: ID!, $first: Int!, $after: Cursor, $where: AuditEventWhereInput) {
    workspace(id: $workspaceID) {
      id
      auditEvents(first: $first, after: $after, where: $where, orderBy: { field: CREATED_AT, direction: DESC }) {
        totalCount
        pageInfo {
          hasNextPage
          endCursor
        }
        edges {
          node {
            id
            action
            actorID
            actorEmail
            targetType
            targetID
            ip
            createdAt
            details {
              name
              value
            }
          }
        }
      }
    }
  }
`);

/** AUDIT_ACTIONS are the actions the control plane records (internal/audit), with readable names. */
export const AUDIT_ACTIONS: Record<string, string> = {
  'auth.sign_in': 'Signed in',
  'auth.sign_in_failed': 'Sign-in failed',
  'auth.sign_up': 'Signed up',
  'auth.sign_out': 'Signed out',
  'auth.refresh_reused': 'Refresh token reused',
  'workspace.created': 'Workspace created',
  'workspace.limits_changed': 'Limits changed',
  'workspace.spend_cap_changed': 'Spend cap changed',
  'workspace.suspended': 'Workspace suspended',
  'workspace.reactivated': 'Workspace reactivated',
  'member.invited': 'Member invited',
  'member.role_changed': 'Member role changed',
  'member.removed': 'Member removed',
  'key.created': 'Key created',
  'key.updated': 'Key updated',
  'key.disabled': 'Key disabled',
  'key.enabled': 'Key enabled',
  'key.revoked': 'Key revoked',
  'key.revoked_all': 'All keys revoked',
  'key.reactivated': 'Key re-activated',
  'key.rotated': 'Key rotated',
  'key.leaked': 'Key reported leaked',
  'key.grace_ended': 'Rotation grace ended',
  'key.deleted': 'Key deleted',
  'key.requests_reset': 'Key request count reset',
  'workspace.deactivated': 'Workspace deactivated',
  'workspace.activated': 'Workspace activated',
  'workspace.key_limit_changed': 'Key limit changed',
  'key.revoked_bulk': 'Keys revoked in bulk',
  'key.auth_failed': 'Failed key authentication',
  'billing.spend_alert': 'Spend alert',
  'billing.event': 'Billing event',
};

const PAGE = 25;

/** AuditPage lists the workspace's audit trail, newest first, filterable by action and actor. */
export default function AuditPage() {
  const { workspaceID = '' } = useParams();
  const [action, setAction] = useState('ALL');
  const [actorText, setActorText] = useState('');
  const [actor, setActor] = useState('');
  const [cursors, setCursors] = useState<(string | null)[]>([null]);

  useEffect(() => {
    const t = setTimeout(() => {
      setActor(actorText.trim());
      setCursors([null]);
    }, 300);
    return () => clearTimeout(t);
  }, [actorText]);

  const where: AuditEventWhereInput = {};
  if (action !== 'ALL') where.action = action;
  if (actor) where.actorEmailContainsFold = actor;
  const { data, loading, error, refetch } = useQuery(AuditPageQuery, {
    variables: { workspaceID, first: PAGE, after: cursors[cursors.length - 1], where: Object.keys(where).length ? where : null },
  });
  const conn = data?.workspace?.auditEvents;
  const events = (conn?.edges ?? []).flatMap((e) => (e?.node ? [e.node] : []));

  return (
    <div className="page">
      <PageHeader title="Audit log" description="Who did what in this workspace, newest first." />
      <div className="toolbar" role="search">
        <SelectField
          label="Action"
          hideLabel
          value={action}
          className="toolbar-select"
          onChange={(v) => {
            setAction(v);
            setCursors([null]);
          }}
          options={[{ value: 'ALL', label: 'All actions' }, ...Object.entries(AUDIT_ACTIONS).map(([value, label]) => ({ value, label }))]}
        />
        <div className="field toolbar-search">
          <label htmlFor="actor" className="visually-hidden">
            Actor e-mail
          </label>
          <input id="actor" className="input" type="search" placeholder="Filter by actor e-mail" value={actorText} onChange={(e) => setActorText(e.target.value)} />
        </div>
        <div className="toolbar-spacer" />
        <button type="button" className="button button-secondary" onClick={() => refetch()}>
          Refresh
        </button>
      </div>
      {error && <ErrorBanner error={error} onRetry={() => refetch()} />}
      {loading && !data ? (
        <Loading label="Loading audit log…" />
      ) : events.length === 0 ? (
        <EmptyState title={action !== 'ALL' || actor ? 'No events match these filters' : 'No audit events yet'} />
      ) : (
        <div className="table-wrap card card-flush">
          <table className="table" aria-label="Audit events">
            <thead>
              <tr>
                <th scope="col">Time</th>
                <th scope="col">Action</th>
                <th scope="col">Actor</th>
                <th scope="col">Target</th>
                <th scope="col">IP</th>
              </tr>
            </thead>
            <tbody>
              {events.map((ev) => (
                <tr key={ev.id}>
                  <td title={formatDateTime(ev.createdAt)}>{formatCompact(ev.createdAt)}</td>
                  <td>
                    <span className="strong">{AUDIT_ACTIONS[ev.action] ?? ev.action}</span>
                    <div className="muted small mono">{ev.action}</div>
                  </td>
                  <td>{ev.actorEmail ?? ev.actorID ?? 'system'}</td>
                  <td className="mono small">
                    {ev.targetType ? `${ev.targetType} ${ev.targetID ?? ''}` : '—'}
                    {ev.details.length > 0 && (
                      <div className="muted">{ev.details.map((d) => `${d.name}: ${d.value.length > 80 ? `${d.value.slice(0, 80)}…` : d.value}`).join(' · ')}</div>
                    )}
                  </td>
                  <td className="mono small">{ev.ip ?? '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
      {conn && events.length > 0 && (
        <Pager
          page={cursors.length}
          hasPrevious={cursors.length > 1}
          hasNext={conn.pageInfo.hasNextPage}
          onPrevious={() => setCursors((c) => c.slice(0, -1))}
          onNext={() => setCursors((c) => [...c, conn.pageInfo.endCursor ?? null])}
          summary={`${formatCount(conn.totalCount)} events · page ${cursors.length}`}
        />
      )}
    </div>
  );
}
