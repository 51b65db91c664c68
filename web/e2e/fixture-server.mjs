// A stand-in control plane for looking at the dashboard without the Go
// binaries: it serves web/dist and executes GraphQL against the real
// ../graph/schema.graphql with canned data. Used by `npm run screenshots`
// (e2e/screenshots.mjs); the real flows are in dashboard.test.mjs.
import { readFileSync, existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSchema, graphql } from 'graphql';

const here = dirname(fileURLToPath(import.meta.url));
const dist = resolve(here, '../dist');
const schema = buildSchema(readFileSync(resolve(here, '../../graph/schema.graphql'), 'utf8'));

const HOUR = 3_600_000;
const now = Date.now();
const iso = (ms) => new Date(ms).toISOString();

function conn(items) {
  return {
    totalCount: items.length,
    pageInfo: { hasNextPage: false, hasPreviousPage: false, startCursor: null, endCursor: null },
    edges: items.map((node, i) => ({ node, cursor: String(i) })),
  };
}

const users = [
  { __typename: 'User', id: 'usr_01HADMIN', email: 'admin@example.com', name: 'Ada Admin' },
  { __typename: 'User', id: 'usr_01HDEV01', email: 'dev@example.com', name: null },
  { __typename: 'User', id: 'usr_01HVIEW1', email: 'finance@example.com', name: 'Fin Ops' },
];

const keySpecs = [
  ['prod-payments-worker', 'ACTIVE', 18234, 0, 4210, 2, 720],
  ['staging-pipeline', 'ACTIVE', 3120, 5000, 870, 30, 168],
  ['ci-smoke-tests', 'RATE_LIMITED', 1000, 1000, 12, 300, 24],
  ['contractor-2026-10', 'EXPIRED', 241, 0, 3, 60 * 24 * 9, -24],
  ['leaked-laptop-key', 'REVOKED', 77, 0, 0, 60 * 24 * 20, null],
  ['batch-embeddings', 'DISABLED', 9650, 0, 5120, 60 * 24 * 2, null],
  ['analytics-notebook', 'ACTIVE', 0, 0, 0, null, 4],
];
const keys = keySpecs.map(([label, status, count, max, hits, lastMin, expH], i) => ({
  __typename: 'APIKey',
  id: `key_01J${(i * 7919 + 104729).toString(36).toUpperCase()}QX8M2Z`,
  workspaceID: 'ws_acme',
  label,
  status,
  maskedKey: `sk-oa**********${['25xx', 'Q9fA', '7bK2', 'm0Zt', 'X4c1', 'pp3L', 'a8Rw'][i]}`,
  revokeReason: status === 'REVOKED' ? 'LEAKED' : null,
  createdAt: iso(now - (i + 2) * 86_400_000),
  updatedAt: iso(now),
  expiresAt: expH === null ? null : iso(now + expH * HOUR),
  lastUsedAt: lastMin === null ? null : iso(now - lastMin * 60_000),
  requestCount: count,
  maxRequests: max,
  cacheHits: hits,
  graceUntil: null,
  allowedModels: i === 1 ? ['gpt-4o-mini', 'mock-gpt'] : [],
  ipAllowlist: i === 0 ? ['203.0.113.0/24'] : [],
  remainingRequests: max ? Math.max(0, max - count) : null,
  requestsResetAt: null,
  creditQuotaCents: i === 1 ? 2500 : null,
  creditUsedMicros: i === 1 ? 18_420_000 : count * 90,
  creditRemainingMicros: i === 1 ? 6_580_000 : null,
  revokedAt: status === 'REVOKED' ? iso(now - 3 * HOUR) : null,
  leakedAt: status === 'REVOKED' ? iso(now - 3 * HOUR) : null,
  leakSource: status === 'REVOKED' ? 'github.com secret scanning' : null,
  rotatedFromID: null,
  rpm: null,
  tpm: null,
  cacheEnabled: true,
  createdBy: users[0],
  usage: () => ({ requests: count, totalTokens: count * 412, costMicros: count * 1830, cacheHits: hits, errors: Math.floor(count / 90), promptTokens: 0, completionTokens: 0 }),
  requestLog: () =>
    Array.from({ length: count ? 8 : 0 }, (_, j) => ({
      __typename: 'UsageEvent',
      id: `ue_${i}_${j}`,
      requestID: `req_${i}${j}`,
      occurredAt: iso(now - j * 7 * 60_000),
      model: j % 3 ? 'gpt-4o-mini' : 'mock-gpt',
      endpoint: '/v1/chat/completions',
      stream: j % 2 === 0,
      promptTokens: 120 + j * 13,
      completionTokens: 48 + j * 7,
      costMicros: 160 + j * 31,
      status: j === 5 ? 429 : 200,
      latencyMs: 180 + ((j * 97) % 400),
      cacheHit: j === 2,
      source: j === 2 ? 'cache' : 'upstream',
    })),
}));

function series({ from, to, granularity }) {
  const step = granularity === 'DAY' ? 24 * HOUR : HOUR;
  const out = [];
  for (let t = Date.parse(from), i = 0; t < Date.parse(to); t += step, i++) {
    const wave = Math.round(40 + 30 * Math.sin(i / 3.2) + (i % 5) * 6);
    const req = granularity === 'DAY' ? wave * 22 : wave;
    out.push({
      time: iso(t),
      requests: req,
      promptTokens: req * 310,
      completionTokens: req * 102,
      costMicros: req * 1830,
      cacheHits: Math.round(req * 0.23),
      errors: i % 7 === 3 ? 4 : i % 11 === 0 ? 2 : 0,
      p50LatencyMs: 220 + ((i * 37) % 90),
      p95LatencyMs: 640 + ((i * 53) % 300),
    });
  }
  return out;
}

const sum = (pts, k) => pts.reduce((a, p) => a + p[k], 0);

const workspace = {
  __typename: 'Workspace',
  id: 'ws_acme',
  name: 'Acme Payments',
  viewerRole: 'OWNER',
  active: true,
  maxKeys: 100,
  rateLimits: { rpm: 600, tpm: 200000, monthlyTokenQuota: 0 },
  spendCap: { monthlyCents: 50000 },
  billing: { standing: 'ACTIVE', monthSpendMicros: 312_457_900, spendCapCents: 50000, stripeEnabled: true },
  apiKeys: ({ status, search }) => conn(keys.filter((k) => (!status || k.status === status) && (!search || k.label.includes(search) || k.id.includes(search)))),
  usage: (a) => {
    const p = series({ ...a, granularity: 'HOUR' });
    return { requests: sum(p, 'requests'), promptTokens: sum(p, 'promptTokens'), completionTokens: sum(p, 'completionTokens'), totalTokens: sum(p, 'promptTokens') + sum(p, 'completionTokens'), costMicros: sum(p, 'costMicros'), cacheHits: sum(p, 'cacheHits'), errors: sum(p, 'errors') };
  },
  usageSeries: series,
  // The Logs page: every key's recent requests, newest first, with a refusal or two.
  requestLog: () =>
    conn(
      keys
        .flatMap((k) => k.requestLog().map((e) => ({ ...e, apiKeyID: k.id, errorCode: e.status >= 400 ? 'rate_limit_exceeded' : null })))
        .concat([{ __typename: 'UsageEvent', id: 'ue_auth', requestID: 'req_auth', occurredAt: iso(now - 3 * 60_000), apiKeyID: keys[4].id, model: 'gpt-4o', endpoint: '/v1/chat/completions', stream: false, promptTokens: 0, completionTokens: 0, costMicros: 0, status: 401, latencyMs: 2, cacheHit: false, source: 'none', errorCode: 'api_key_revoked' }])
        .sort((a, b) => b.occurredAt.localeCompare(a.occurredAt))
        .slice(0, 25),
    ),
  usageByModel: () => [
    { key: 'gpt-4o', label: 'gpt-4o', requests: 812, totalTokens: 401_233, costMicros: 2_810_000, errors: 9, avgLatencyMs: 1840 },
    { key: 'gpt-4o-mini', label: 'gpt-4o-mini', requests: 1630, totalTokens: 702_110, costMicros: 421_266, errors: 4, avgLatencyMs: 720 },
    { key: 'text-embedding-3-small', label: 'text-embedding-3-small', requests: 402, totalTokens: 98_200, costMicros: 1_964, errors: 0, avgLatencyMs: 95 },
  ],
  usageByKey: () => keys.slice(0, 3).map((k, i) => ({ key: k.id, label: k.label, requests: [1840, 702, 302][i], totalTokens: [780_000, 301_000, 120_000][i], costMicros: [2_310_000, 702_000, 221_230][i], errors: [11, 2, 0][i], avgLatencyMs: [1210, 830, 640][i] })),
  requireMFA: false,
  group: null,
  serviceTokens: () => [
    { __typename: 'ServiceToken', id: 'st_ci', name: 'ci-deployer', role: 'DEVELOPER', status: 'ACTIVE', createdAt: iso(now - 12 * 86_400_000), expiresAt: iso(now + 78 * 86_400_000), lastUsedAt: iso(now - 3 * 3_600_000), createdByID: 'usr_01HADMIN' },
  ],
  channels: () => [channel('ch_azure', 'ws_acme', 'azure-east', 'AZURE', 'https://acme-east.openai.azure.com', 10, 3), channel('ch_oa1', 'ws_acme', 'openai-1', 'OPENAI', 'https://api.openai.com/v1', 10, 1)],
  usageByChannel: () => [
    { key: 'azure-east', label: 'azure-east', requests: 1700, totalTokens: 720_000, costMicros: 2_000_000, errors: 9, avgLatencyMs: 1100 },
    { key: 'openai-1', label: 'openai-1', requests: 1144, totalTokens: 481_000, costMicros: 1_233_230, errors: 4, avgLatencyMs: 800 },
  ],
  memberships: () =>
    conn(
      users.map((u, i) => ({ __typename: 'Membership', id: `mem_${i}`, role: ['OWNER', 'DEVELOPER', 'VIEWER'][i], createdAt: iso(now - (30 - i * 9) * 86_400_000), user: u })),
    ),
  invitations: () => [
    { __typename: 'Invitation', id: 'inv_1', email: 'new.hire@example.com', role: 'DEVELOPER', status: 'PENDING', expiresAt: iso(now + 6 * 86_400_000), sentAt: iso(now - 86_400_000) },
  ],
  auditEvents: () =>
    conn(
      [
        ['key.revoked', 'admin@example.com', 'api_key', keys[4].id],
        ['key.leaked', null, 'api_key', keys[4].id],
        ['key.created', 'dev@example.com', 'api_key', keys[6].id],
        ['workspace.limits_changed', 'admin@example.com', 'workspace', 'ws_acme'],
        ['member.invited', 'admin@example.com', 'membership', 'mem_2'],
        ['auth.sign_in', 'admin@example.com', null, null],
        ['workspace.spend_cap_changed', 'admin@example.com', 'workspace', 'ws_acme'],
        ['workspace.created', 'admin@example.com', 'workspace', 'ws_acme'],
      ].map(([action, actorEmail, targetType, targetID], i) => ({
        __typename: 'AuditEvent',
        id: `ae_${i}`,
        action,
        actorID: actorEmail ? 'usr_01HADMIN' : null,
        actorEmail,
        targetType,
        targetID,
        ip: actorEmail ? '198.51.100.23' : null,
        createdAt: iso(now - i * 47 * 60_000),
        details: action === 'key.revoked' ? [{ name: 'count', value: '1' }] : [],
      })),
    ),
};

/** channel is a Channel row of the Channels page. */
function channel(id, workspaceID, name, type, baseURL, priority, weight) {
  return { __typename: 'Channel', id, workspaceID, name, type, baseURL, apiVersion: type === 'AZURE' ? '2024-10-21' : null, hasAPIKey: true, apiKeyMask: 'sk-…7Qa2', models: type === 'AZURE' ? ['gpt-4o', 'gpt-4o-mini'] : [], modelMap: [], priority, weight, enabled: true, rpm: 0, tpm: 0 };
}

const others = [
  { __typename: 'Workspace', id: 'ws_labs', name: 'Acme Labs' },
  { __typename: 'Workspace', id: 'ws_sandbox', name: 'Sandbox' },
];

const payload = () => ({ accessToken: 'fixture-access', refreshToken: 'fixture-refresh', expiresAt: iso(now + 15 * 60_000), user: users[0] });

const root = {
  viewer: () => ({
    id: 'usr_01HADMIN',
    email: 'admin@example.com',
    emailVerified: true,
    mfaRequired: false,
    mfaEnabled: false,
    siteAdmin: true,
    memberships: [workspace, ...others].map((w, i) => ({ __typename: 'Membership', id: `vm_${i}`, role: i ? 'ADMIN' : 'OWNER', workspace: w })),
  }),
  workspace: ({ id }) => (id === 'ws_acme' ? workspace : null),
  // All keys: the workspace's keys plus a few of the others, each with its workspace.
  apiKeys: ({ workspaceIDs }) =>
    conn(
      [
        ...keys.map((k) => ({ ...k, workspace })),
        { ...keys[1], id: 'key_01JLABS0000QX8M2Z', label: 'labs-research-agent', maskedKey: 'sk-oa**********Lb7e', workspaceID: 'ws_labs', workspace: others[0] },
        { ...keys[6], id: 'key_01JSANDBOXQX8M2Z', label: 'sandbox-playground', maskedKey: 'sk-oa**********Sd0x', workspaceID: 'ws_sandbox', workspace: others[1] },
      ].filter((k) => !workspaceIDs || workspaceIDs.includes(k.workspaceID)),
    ),
  groups: () => [
    { __typename: 'Group', id: 'grp_partner', name: 'partner', priceMultiplierBps: 8000, rpm: 1200, tpm: 400000 },
    { __typename: 'Group', id: 'grp_resale', name: 'resale-plus-50', priceMultiplierBps: 15000, rpm: 0, tpm: 0 },
  ],
  gateways: () => [
    { name: 'eu-prod', lastSeenAt: iso(now - 12_000) },
    { name: 'us-east', lastSeenAt: iso(now - 25_000) },
    { name: 'staging', lastSeenAt: iso(now - 3 * 86_400_000) },
  ],
  channels: () => [channel('ch_site', null, 'site-openai', 'OPENAI', 'https://api.openai.com/v1', 0, 1)],
  node: ({ id }) => keys.find((k) => k.id === id) ?? null,
  signIn: payload,
  signUp: payload,
  refreshSession: payload,
  signOut: () => true,
  createAPIKey: ({ input }) => ({ secret: 'sk-oais-EXAMPLEexampleEXAMPLEexampleEXAMPLE0000', apiKey: { ...keys[6], label: input.label } }),
  revokeAllAPIKeys: () => 3,
  billingPortalURL: () => null,
  billingCheckoutURL: () => null,
};

const types = { '.js': 'text/javascript', '.css': 'text/css', '.html': 'text/html; charset=utf-8', '.svg': 'image/svg+xml' };

/** startFixtureServer serves dist/ and the fake GraphQL API on a port; it resolves to the server. */
export function startFixtureServer(port = 0) {
  if (!existsSync(join(dist, 'index.html'))) throw new Error('web/dist is not built: run npm run build');
  const srv = createServer(async (req, res) => {
    if (req.url === '/graphql' && req.method === 'POST') {
      let body = '';
      for await (const c of req) body += c;
      const { query, variables, operationName } = JSON.parse(body);
      const result = await graphql({ schema, source: query, variableValues: variables, operationName, rootValue: root });
      // A stand-in for the HttpOnly refresh cookie: after signIn a page load
      // gets its access token from /auth/session/refresh, as with the real
      // control plane (one browser context, one session).
      const cookie = result.data?.signIn ? { 'Set-Cookie': 'fixture_session=1; Path=/; HttpOnly; SameSite=Strict' } : {};
      res.writeHead(200, { 'Content-Type': 'application/json', ...cookie });
      res.end(JSON.stringify(result));
      return;
    }
    if (req.url === '/auth/session/refresh' && req.method === 'POST') {
      const signedIn = /(^|;\s*)fixture_session=1/.test(req.headers.cookie ?? '');
      res.writeHead(signedIn ? 200 : 401, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify(signedIn ? { accessToken: 'fixture-access', expiresAt: iso(Date.now() + 15 * 60_000) } : { error: 'signed out' }));
      return;
    }
    if (req.url === '/auth/session/signout' && req.method === 'POST') {
      res.writeHead(204, { 'Set-Cookie': 'fixture_session=; Path=/; Max-Age=0' });
      res.end();
      return;
    }
    const p = new URL(req.url, 'http://x').pathname;
    const file = join(dist, p);
    if (p !== '/' && file.startsWith(dist) && existsSync(file)) {
      res.writeHead(200, { 'Content-Type': types[extname(file)] ?? 'application/octet-stream' });
      res.end(readFileSync(file));
      return;
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
    res.end(readFileSync(join(dist, 'index.html')));
  });
  return new Promise((ok) => srv.listen(port, '127.0.0.1', () => ok(srv)));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const srv = await startFixtureServer(Number(process.env.PORT ?? 4173));
  console.log(`fixture dashboard on http://127.0.0.1:${srv.address().port}/`);
}
