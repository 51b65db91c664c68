// End to end, issue 16's review views: a key the gateway refuses reaches the
// workspace's audit log as a failed authentication, with its count and
// codes and never its secret. The control plane writes that line for a
// whole minute once the next one has ended too (a job every 30 s), so this
// file waits up to two and a half minutes and does nothing else.
//
// Only refusals the gateway records count: 403s of a known key
// (ip_not_allowed, workspace_inactive, workspace_suspended). A 401 (revoked,
// expired, disabled) writes no usage row (gateway/errorusage.go), so it
// never reaches this line today.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, eventually, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);

let dir, cp, gw, browser, page, token, ws, fenced;
const consoleErrors = [];

/** gql calls the control plane's GraphQL API as the bootstrap admin. */
async function gql(query, variables = {}) {
  const res = await fetch(`${cp}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.ok(!body.errors, JSON.stringify(body.errors));
  return body.data;
}

async function chat(secret) {
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'Say hello from the audit suite.' }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-issue16-audit-'));
  const [cpPort, gwPort] = [await freePort(), await freePort()];
  cp = `http://127.0.0.1:${cpPort}`;
  gw = `http://127.0.0.1:${gwPort}`;
  const env = {
    OAIS_DATABASE_URL: `sqlite://${join(dir, 'oais.db')}`,
    OAIS_CONTROLPLANE_ADDR: `127.0.0.1:${cpPort}`,
    OAIS_GATEWAY_ADDR: `127.0.0.1:${gwPort}`,
    OAIS_SPOOL_DIR: join(dir, 'spool'),
    OAIS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    OAIS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  const cpProc = startBinary('controlplane', ['serve'], env);
  await waitForHTTP(`${cp}/readyz`, { proc: cpProc });
  const gwProc = startBinary('gateway', ['serve'], env);
  await waitForHTTP(`${gw}/healthz`, { proc: gwProc });

  token = (await gql(`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, { e: ADMIN_EMAIL, p: ADMIN_PASSWORD }))
    .signIn.accessToken;
  ws = (await gql(`mutation($n: String!) { createWorkspace(input: {name: $n}) { id name } }`, { n: `audit-${Date.now().toString(36)}` })).createWorkspace;
  // A key only a far network may use, called from loopback, first thing: the clock of the audit job starts here.
  const d = await gql(`mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret apiKey { id } } }`, {
    in: { workspaceID: ws.id, label: 'e2e-fenced', ipAllowlist: ['203.0.113.0/24'] },
  });
  fenced = { id: d.createAPIKey.apiKey.id, secret: d.createAPIKey.secret };
  await eventually(
    async () => {
      const r = await chat(fenced.secret);
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body?.error?.code, 'ip_not_allowed');
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );

  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: cp });
  page = await context.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page.goto('/signin');
  await page.getByLabel('E-mail').first().fill(ADMIN_EMAIL);
  await page.getByLabel('Password').first().fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
});

after(async () => {
  try {
    await page?.screenshot({ path: join(ARTIFACTS, 'issue16-audit-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('failed authentication: a key refused for its address is named in the audit log, without its secret', async () => {
  await eventually(
    async () => {
      const d = await gql(`query($id: ID!) { workspace(id: $id) { auditEvents(first: 5, where: {action: "key.auth_failed"}) { edges { node { targetID } } } } }`, {
        id: ws.id,
      });
      assert.ok(d.workspace.auditEvents.edges.length > 0, 'no failed-authentication line yet');
      assert.equal(d.workspace.auditEvents.edges[0].node.targetID, fenced.id);
    },
    { timeoutMs: 160_000, intervalMs: 2000 },
  );
  await page.goto(`/w/${ws.id}/audit`);
  const line = page.getByRole('row', { name: /Failed key authentication/ });
  await line.first().waitFor();
  assert.match(await line.first().innerText(), /ip_not_allowed/);
  assert.doesNotMatch(await page.content(), new RegExp(fenced.secret));
  await page.screenshot({ path: join(ARTIFACTS, 'issue16-audit-auth-failed.png'), fullPage: true });
});
