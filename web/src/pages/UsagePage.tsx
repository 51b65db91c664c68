import { useQuery } from '@apollo/client';
import * as Tabs from '@radix-ui/react-tabs';
import { useMemo, useState } from 'react';
import { Link, useParams } from 'react-router';
import { Area, AreaChart, Bar, BarChart, CartesianGrid, Legend, Line, LineChart, ResponsiveContainer, Tooltip, XAxis, YAxis } from 'recharts';
import { EmptyState, ErrorBanner, Loading, PageHeader } from '../components/Feedback';
import { graphql } from '../gql';
import type { UsagePageQuery as UsageData } from '../gql/graphql';
import { formatCount, formatDateTime, formatErrorRate, formatHour, formatShortDate } from '../lib/format';
import { costAxisFormatter, formatCost } from '../lib/money';
import { fillSeries, usageWindow, type Range } from '../lib/series';
import { POLL_MS } from './KeysPage';

export const UsagePageQuery = graphql(`
  query UsagePage($workspaceID: ID!, $from: Time!, $to: Time!, $granularity: Granularity!) {
    workspace(id: $workspaceID) {
      id
      usage(from: $from, to: $to) {
        requests
        promptTokens
        completionTokens
        totalTokens
        costMicros
        cacheHits
        errors
      }
      usageSeries(from: $from, to: $to, granularity: $granularity) {
        time
        requests
        promptTokens
        completionTokens
        costMicros
        cacheHits
        errors
        p50LatencyMs
        p95LatencyMs
      }
      usageByModel(from: $from, to: $to) {
        key
        label
        requests
        totalTokens
        costMicros
        errors
        avgLatencyMs
      }
      usageByKey(from: $from, to: $to) {
        key
        label
        requests
        totalTokens
        costMicros
        errors
        avgLatencyMs
      }
      usageByChannel(from: $from, to: $to) {
        key
        label
        requests
        totalTokens
        costMicros
        errors
        avgLatencyMs
      }
    }
  }
`);

type Point = NonNullable<UsageData['workspace']>['usageSeries'][number];

const C = { primary: '#4f46e5', second: '#0ea5e9', warn: '#f59e0b', danger: '#dc2626', ok: '#16a34a', grid: '#e5e7eb', axis: '#6b7280' };

/** UsagePage charts a workspace's requests, tokens, cost, latency and errors. */
export default function UsagePage() {
  const { workspaceID = '' } = useParams();
  const [range, setRange] = useState<Range>('24h');
  const win = useMemo(() => usageWindow(range), [range]);
  const { data, loading, error, refetch } = useQuery(UsagePageQuery, {
    variables: { workspaceID, from: win.from, to: win.to, granularity: win.granularity },
    pollInterval: POLL_MS,
  });
  const ws = data?.workspace;
  const series = useMemo(
    () =>
      fillSeries(ws?.usageSeries ?? [], win.from, win.to, win.stepMs, (time): Point => ({
        time,
        requests: 0,
        promptTokens: 0,
        completionTokens: 0,
        costMicros: 0,
        cacheHits: 0,
        errors: 0,
        p50LatencyMs: 0,
        p95LatencyMs: 0,
      })),
    [ws, win],
  );
  const tick = range === '24h' ? formatHour : formatShortDate;
  const costTick = useMemo(() => costAxisFormatter(Math.max(0, ...series.map((p) => p.costMicros))), [series]);
  const hasData = (ws?.usage.requests ?? 0) + (ws?.usage.errors ?? 0) > 0;

  return (
    <div className="page">
      <PageHeader
        title="Usage"
        description={`UTC ${range === '24h' ? 'hours' : 'days'} from ${formatDateTime(win.from)} to ${formatDateTime(win.to)}. Updates every few seconds.`}
        actions={
          <>
            <Tabs.Root value={range} onValueChange={(v) => setRange(v as Range)}>
              <Tabs.List className="segmented" aria-label="Time range">
                <Tabs.Trigger value="24h" className="segmented-item">
                  24 hours
                </Tabs.Trigger>
                <Tabs.Trigger value="30d" className="segmented-item">
                  30 days
                </Tabs.Trigger>
              </Tabs.List>
            </Tabs.Root>
            <button type="button" className="button button-secondary" onClick={() => refetch()}>
              Refresh
            </button>
          </>
        }
      />
      {error && <ErrorBanner error={error} onRetry={() => refetch()} />}
      {loading && !data ? (
        <Loading label="Loading usage…" />
      ) : ws ? (
        <>
          <section className="stats" aria-label="Totals">
            <Tile label="Requests" value={formatCount(ws.usage.requests)} />
            <Tile label="Tokens" value={formatCount(ws.usage.totalTokens)} />
            <Tile label="Cost" value={formatCost(ws.usage.costMicros)} />
            <Tile label="Cache hits" value={formatCount(ws.usage.cacheHits)} />
            <Tile label="Errors" value={formatCount(ws.usage.errors)} />
          </section>
          {!hasData && (
            <EmptyState title="No traffic in this window yet">
              Send a request to /v1/chat/completions with one of this workspace's keys; it shows up here within seconds.
            </EmptyState>
          )}
          <div className="grid-2">
            <ChartCard title="Requests" summary={`${plural(ws.usage.requests, 'request')}, ${formatCount(ws.usage.cacheHits)} from cache`}>
              <BarChart data={series} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid stroke={C.grid} vertical={false} />
                <XAxis dataKey="time" tickFormatter={tick} stroke={C.axis} fontSize={11} minTickGap={24} />
                <YAxis allowDecimals={false} stroke={C.axis} fontSize={11} width={40} />
                <Tooltip labelFormatter={(l) => formatDateTime(String(l))} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Bar dataKey="requests" name="Requests" fill={C.primary} radius={[3, 3, 0, 0]} isAnimationActive={false} />
                <Bar dataKey="cacheHits" name="Cache hits" fill={C.second} radius={[3, 3, 0, 0]} isAnimationActive={false} />
              </BarChart>
            </ChartCard>
            <ChartCard title="Tokens" summary={`${formatCount(ws.usage.promptTokens)} prompt and ${formatCount(ws.usage.completionTokens)} completion tokens`}>
              <AreaChart data={series} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid stroke={C.grid} vertical={false} />
                <XAxis dataKey="time" tickFormatter={tick} stroke={C.axis} fontSize={11} minTickGap={24} />
                <YAxis allowDecimals={false} stroke={C.axis} fontSize={11} width={48} tickFormatter={(v: number) => formatCount(v)} />
                <Tooltip labelFormatter={(l) => formatDateTime(String(l))} formatter={(v) => formatCount(Number(v))} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Area type="monotone" dataKey="promptTokens" name="Prompt" stackId="t" stroke={C.primary} fill={C.primary} fillOpacity={0.25} isAnimationActive={false} />
                <Area type="monotone" dataKey="completionTokens" name="Completion" stackId="t" stroke={C.second} fill={C.second} fillOpacity={0.25} isAnimationActive={false} />
              </AreaChart>
            </ChartCard>
            <ChartCard title="Cost" summary={`${formatCost(ws.usage.costMicros)} in this window`}>
              <AreaChart data={series} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid stroke={C.grid} vertical={false} />
                <XAxis dataKey="time" tickFormatter={tick} stroke={C.axis} fontSize={11} minTickGap={24} />
                {/* Values stay integer micro-dollars; only the labels are dollars. */}
                <YAxis allowDecimals={false} stroke={C.axis} fontSize={11} width={56} tickFormatter={costTick} />
                <Tooltip labelFormatter={(l) => formatDateTime(String(l))} formatter={(v) => formatCost(Math.round(Number(v)))} />
                <Area type="monotone" dataKey="costMicros" name="Cost" stroke={C.ok} fill={C.ok} fillOpacity={0.2} isAnimationActive={false} />
              </AreaChart>
            </ChartCard>
            <ChartCard title="Latency" summary="p50 and p95 latency per bucket, in milliseconds">
              <LineChart data={series} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid stroke={C.grid} vertical={false} />
                <XAxis dataKey="time" tickFormatter={tick} stroke={C.axis} fontSize={11} minTickGap={24} />
                <YAxis allowDecimals={false} stroke={C.axis} fontSize={11} width={48} />
                <Tooltip labelFormatter={(l) => formatDateTime(String(l))} formatter={(v) => `${formatCount(Number(v))} ms`} />
                <Legend wrapperStyle={{ fontSize: 12 }} />
                <Line type="monotone" dataKey="p50LatencyMs" name="p50" stroke={C.primary} dot={false} isAnimationActive={false} />
                <Line type="monotone" dataKey="p95LatencyMs" name="p95" stroke={C.warn} dot={false} isAnimationActive={false} />
              </LineChart>
            </ChartCard>
            <ChartCard title="Errors" summary={`${plural(ws.usage.errors, 'failed request')}`}>
              <BarChart data={series} margin={{ top: 8, right: 8, left: 0, bottom: 0 }}>
                <CartesianGrid stroke={C.grid} vertical={false} />
                <XAxis dataKey="time" tickFormatter={tick} stroke={C.axis} fontSize={11} minTickGap={24} />
                <YAxis allowDecimals={false} stroke={C.axis} fontSize={11} width={40} />
                <Tooltip labelFormatter={(l) => formatDateTime(String(l))} />
                <Bar dataKey="errors" name="Errors" fill={C.danger} radius={[3, 3, 0, 0]} isAnimationActive={false} />
              </BarChart>
            </ChartCard>
          </div>
          {/* Full width, like By channel: six columns do not fit half a page at 1280 px. */}
          <GroupTable title="By model" rows={ws.usageByModel} nameHeader="Model" />
          <GroupTable title="By API key" rows={ws.usageByKey} nameHeader="Key" linkTo={(key) => `/w/${workspaceID}/keys/${key}`} />
          {ws.usageByChannel.some((r) => r.key !== '') && (
            <GroupTable title="By channel" rows={ws.usageByChannel.map((r) => (r.key ? r : { ...r, label: 'global upstream' }))} nameHeader="Channel" />
          )}
        </>
      ) : null}
    </div>
  );
}

function plural(n: number, word: string): string {
  return `${formatCount(n)} ${word}${n === 1 ? '' : 's'}`;
}

function Tile({ label, value }: { label: string; value: string }) {
  return (
    <div className="stat">
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
    </div>
  );
}

function ChartCard({ title, summary, children }: { title: string; summary: string; children: React.ReactElement }) {
  return (
    <figure className="card chart-card" aria-label={`${title} chart`}>
      <figcaption className="card-head">
        <h2>{title}</h2>
        <span className="muted small">{summary}</span>
      </figcaption>
      <div className="chart" role="img" aria-label={`${title}: ${summary}`}>
        <ResponsiveContainer width="100%" height={220}>
          {children}
        </ResponsiveContainer>
      </div>
    </figure>
  );
}

function GroupTable({
  title,
  rows,
  nameHeader,
  linkTo,
}: {
  title: string;
  rows: readonly {
    key: string;
    label: string;
    requests: number;
    totalTokens: number;
    costMicros: number;
    errors: number;
    avgLatencyMs: number;
  }[];
  nameHeader: string;
  linkTo?: (key: string) => string;
}) {
  return (
    <section className="card" aria-label={`Usage ${title.toLowerCase()}`}>
      <h2>{title}</h2>
      {rows.length === 0 ? (
        <p className="muted">No usage in this window.</p>
      ) : (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">{nameHeader}</th>
                <th scope="col" className="num">
                  Requests
                </th>
                <th scope="col" className="num">
                  Tokens
                </th>
                <th scope="col" className="num">
                  Cost
                </th>
                <th scope="col" className="num">
                  Errors
                </th>
                <th scope="col" className="num">
                  Avg latency
                </th>
              </tr>
            </thead>
            <tbody>
              {rows.map((r) => (
                <tr key={r.key}>
                  <td>
                    {linkTo ? (
                      <Link className="link" to={linkTo(r.key)}>
                        {r.label || r.key}
                      </Link>
                    ) : (
                      <span className="mono">{r.label || r.key}</span>
                    )}
                  </td>
                  <td className="num">{formatCount(r.requests)}</td>
                  <td className="num">{formatCount(r.totalTokens)}</td>
                  <td className="num">{formatCost(r.costMicros)}</td>
                  <td className="num">{formatErrorRate(r.errors, r.requests)}</td>
                  <td className="num">{r.requests > 0 ? `${formatCount(r.avgLatencyMs)} ms` : '—'}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

