// End to end, issue 16: the review side of keys through the dashboard against
// the real controlplane and gateway binaries (SQLite), one step each: every
// key across workspaces, the request log with its Token filter, the review
// chips, a bulk revocation that the audit log names once, and the key limit
// that a site admin sets.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, DOCS_SCREENSHOTS, eventually, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);

let dir, cp, gw, browser, page, token;
let wsA, wsB; // { id, name }
const keys = {}; // label -> { id, secret }
const consoleErrors = [];

/** shot saves a screenshot; docs: also as docs/screenshots/<name>.png for the README. */
async function shot(name, { docs = false } = {}) {
  const file = join(ARTIFACTS, `review-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  if (docs) {
    mkdirSync(DOCS_SCREENSHOTS, { recursive: true });
    copyFileSync(file, join(DOCS_SCREENSHOTS, `${name}.png`));
  }
}

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

async function chat(secret, model = 'mock-gpt') {
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello from the review suite.' }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

async function createWorkspace(name) {
  const d = await gql(`mutation($n: String!) { createWorkspace(input: {name: $n}) { id name } }`, { n: name });
  return d.createWorkspace;
}

async function createKey(ws, label, extra = {}) {
  const d = await gql(`mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret apiKey { id } } }`, {
    in: { workspaceID: ws.id, label, ...extra },
  });
  keys[label] = { id: d.createAPIKey.apiKey.id, secret: d.createAPIKey.secret };
}

/** pick chooses an option of a labelled select. */
async function pick(label, option) {
  await page.getByRole('combobox', { name: label }).click();
  await page.getByRole('option', { name: option, exact: true }).click();
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-review-'));
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

  // Two workspaces of the admin, with keys, through the API.
  token = (await gql(`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, { e: ADMIN_EMAIL, p: ADMIN_PASSWORD }))
    .signIn.accessToken;
  const stamp = Date.now().toString(36);
  wsA = await createWorkspace(`review-a-${stamp}`);
  wsB = await createWorkspace(`review-b-${stamp}`);
  await createKey(wsA, 'e2e-a-busy');
  await createKey(wsA, 'e2e-a-narrow', { allowedModels: ['gpt-4o'] });
  await createKey(wsA, 'e2e-a-near', { maxRequests: 5 });
  await createKey(wsB, 'e2e-b-one');
  await createKey(wsB, 'e2e-b-two');
  await createKey(wsB, 'e2e-b-expiring', { durationHours: 48 });

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
    await page?.screenshot({ path: join(ARTIFACTS, 'review-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('all keys: every workspace in one list, with a workspace column and filter', async () => {
  await page.goto(`/w/${wsA.id}/keys`);
  await page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'All keys', exact: true }).click();
  await page.getByRole('heading', { name: 'All keys' }).waitFor();
  const table = page.getByRole('table', { name: 'All keys' });
  for (const [label, ws] of [['e2e-a-busy', wsA], ['e2e-b-one', wsB]]) {
    const row = table.getByRole('row', { name: new RegExp(label) });
    await row.waitFor();
    assert.match(await row.innerText(), new RegExp(ws.name));
  }
  await shot('all-keys', { docs: true });
  await pick('Workspace', wsB.name);
  await eventually(async () => {
    const text = await table.innerText();
    assert.match(text, /e2e-b-two/);
    assert.doesNotMatch(text, /e2e-a-busy/);
  });
});

test('logs: the request log of the workspace, filtered by token and status', async () => {
  for (let i = 0; i < 3; i++) assert.equal((await chat(keys['e2e-a-busy'].secret)).status, 200);
  const refused = await chat(keys['e2e-a-narrow'].secret);
  assert.equal(refused.status, 403);
  await page.goto(`/w/${wsA.id}/keys`);
  await page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'Logs', exact: true }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  const table = page.getByRole('table', { name: 'Request log' });
  // The gateway ships usage within about a second; the page polls.
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    assert.equal(await table.getByRole('row', { name: /e2e-a-busy/ }).count(), 3);
    assert.equal(await table.getByRole('row', { name: /model_not_allowed/ }).count(), 1);
  });
  await shot('logs', { docs: true });
  await pick('Token', await tokenOption('e2e-a-narrow'));
  await eventually(async () => {
    assert.equal(await table.getByRole('row', { name: /e2e-a-busy/ }).count(), 0);
    assert.equal(await table.getByRole('row', { name: /model_not_allowed/ }).count(), 1);
  });
  // From a key's page straight to its requests in Logs.
  await page.goto(`/w/${wsA.id}/keys/${keys['e2e-a-busy'].id}`);
  await page.getByRole('link', { name: "All of this key's requests in Logs" }).click();
  await page.getByRole('heading', { name: 'Logs' }).waitFor();
  await eventually(async () => {
    assert.equal(await table.getByRole('row', { name: /e2e-a-busy/ }).count(), 3);
    assert.equal(await table.getByRole('row', { name: /model_not_allowed/ }).count(), 0);
  });
  await pick('Token', 'All tokens');
  await pick('Status', 'Answered (< 400)');
  await eventually(async () => {
    assert.equal(await table.getByRole('row', { name: /model_not_allowed/ }).count(), 0);
    assert.equal(await table.getByRole('row', { name: /e2e-a-busy/ }).count(), 3);
  });
});

/** tokenOption is the Token filter's text for a key: its label and last four. */
async function tokenOption(label) {
  const d = await gql(`query($id: ID!) { node(id: $id) { ... on APIKey { maskedKey } } }`, { id: keys[label].id });
  return `${label} (${d.node.maskedKey.slice(-4)})`;
}

test('review chips: near a limit, expiring soon, unused', async () => {
  for (let i = 0; i < 4; i++) assert.equal((await chat(keys['e2e-a-near'].secret)).status, 200);
  await page.goto(`/w/${wsA.id}/keys`);
  const table = page.getByRole('table', { name: 'API keys' });
  await table.getByRole('row', { name: /e2e-a-near/ }).waitFor();
  await page.getByRole('button', { name: 'Near a limit' }).click();
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    const text = await table.innerText();
    assert.match(text, /e2e-a-near/);
    assert.doesNotMatch(text, /e2e-a-busy/);
  });
  await page.getByRole('button', { name: 'Near a limit' }).click(); // off
  await page.getByRole('button', { name: 'Unused 30+ days' }).click();
  await page.getByText('No keys match these filters').waitFor(); // every key of A was used just now
  await page.getByRole('button', { name: 'Unused 30+ days' }).click();
  // Expiring within 7 days: only the 48-hour key of B.
  await page.goto(`/w/${wsB.id}/keys?review=expiring`);
  await table.getByRole('row', { name: /e2e-b-expiring/ }).waitFor();
  assert.equal(await table.getByRole('row', { name: /e2e-b-one/ }).count(), 0);
  assert.equal(await page.getByRole('button', { name: 'Expiring in 7 days' }).getAttribute('aria-pressed'), 'true');
});

test('bulk revoke: selected keys revoked in one action, named once in the audit log', async () => {
  await page.goto(`/w/${wsB.id}/keys`);
  const table = page.getByRole('table', { name: 'API keys' });
  await table.getByRole('row', { name: /e2e-b-one/ }).waitFor();
  await page.getByRole('checkbox', { name: 'Select e2e-b-one' }).click();
  await page.getByRole('checkbox', { name: 'Select e2e-b-two' }).click();
  await page.getByRole('button', { name: 'Revoke selected' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Revoke 2' }).click();
  await page.getByText('Revoked 2 keys').first().waitFor();
  for (const label of ['e2e-b-one', 'e2e-b-two']) {
    await gatewayRefuses(keys[label].secret);
  }
  await page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name: 'Audit log', exact: true }).click();
  const bulk = page.getByRole('row', { name: /Keys revoked in bulk/ });
  await bulk.waitFor();
  assert.equal(await bulk.count(), 1);
  assert.match(await bulk.innerText(), /count: 2/);
});

async function gatewayRefuses(secret) {
  await eventually(
    async () => {
      const r = await chat(secret);
      assert.equal(r.status, 401);
      assert.equal(r.body?.error?.code, 'api_key_revoked');
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

test('key limit: a site admin sets it, and generating past it is refused', async () => {
  await page.goto(`/w/${wsA.id}/limits`);
  const card = page.getByRole('form', { name: 'Key limit' });
  await card.getByLabel('Maximum live keys').fill('0');
  await card.getByRole('button', { name: 'Save key limit' }).click();
  await card.getByText('The key limit must be a whole number, at least 1.').waitFor();
  await card.getByLabel('Maximum live keys').fill('3'); // A has three live keys
  await card.getByRole('button', { name: 'Save key limit' }).click();
  await page.getByText('Key limit set to 3').first().waitFor();
  await page.goto(`/w/${wsA.id}/keys`);
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill('e2e-a-one-too-many');
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  await dialog.getByText(/reached its API key limit/).waitFor();
});
