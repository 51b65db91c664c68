// End to end, issue 16's remaining browser steps against the real binaries
// (SQLite): an expired key stays expired (no re-activate, the expiry locked,
// the gateway answers api_key_expired); a revoked key is re-activated; a key
// bound to one gateway is refused by another. Also the docs screenshots of
// the edit dialog and the delete confirmation. The failed-authentication
// audit line waits minutes for its job: issue16-audit.test.mjs.
import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, DOCS_SCREENSHOTS, eventually, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);
const EU = 'eu-prod';
const US = 'us-east';

let dir, cp, gwEU, gwUS, browser, page, token, ws;
const consoleErrors = [];

/** shot saves a screenshot; docs: also as docs/screenshots/<name>.png for the README. */
async function shot(name, { docs = false, fullPage = true } = {}) {
  const file = join(ARTIFACTS, `issue16-${name}.png`);
  await page.screenshot({ path: file, fullPage });
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

async function createKey(label, extra = {}) {
  const d = await gql(`mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { secret apiKey { id } } }`, {
    in: { workspaceID: ws.id, label, ...extra },
  });
  return { id: d.createAPIKey.apiKey.id, secret: d.createAPIKey.secret, label };
}

async function chat(gw, secret) {
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'Say hello from the issue 16 suite.' }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** gatewaySays polls a gateway until the key's next call gets status (and code). */
async function gatewaySays(gw, secret, status, code) {
  await eventually(
    async () => {
      const r = await chat(gw, secret);
      assert.equal(r.status, status, JSON.stringify(r.body));
      if (code) assert.equal(r.body?.error?.code, code);
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

/** nav is a link of the workspace's navigation. */
const nav = (name) => page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name, exact: true });

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-issue16-'));
  const [cpPort, euPort, usPort] = [await freePort(), await freePort(), await freePort()];
  cp = `http://127.0.0.1:${cpPort}`;
  gwEU = `http://127.0.0.1:${euPort}`;
  gwUS = `http://127.0.0.1:${usPort}`;
  const env = {
    OAIS_DATABASE_URL: `sqlite://${join(dir, 'oais.db')}`,
    OAIS_CONTROLPLANE_ADDR: `127.0.0.1:${cpPort}`,
    OAIS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    OAIS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  };
  const cpProc = startBinary('controlplane', ['serve'], env);
  await waitForHTTP(`${cp}/readyz`, { proc: cpProc });
  // Two named gateways, each with its own spool.
  for (const [name, port, url] of [
    [EU, euPort, gwEU],
    [US, usPort, gwUS],
  ]) {
    const proc = startBinary('gateway', ['serve'], { ...env, OAIS_GATEWAY_ADDR: `127.0.0.1:${port}`, OAIS_GATEWAY_NAME: name, OAIS_SPOOL_DIR: join(dir, `spool-${name}`) });
    await waitForHTTP(`${url}/healthz`, { proc });
  }

  token = (await gql(`mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }`, { e: ADMIN_EMAIL, p: ADMIN_PASSWORD }))
    .signIn.accessToken;
  ws = (await gql(`mutation($n: String!) { createWorkspace(input: {name: $n}) { id name } }`, { n: `issue16-${Date.now().toString(36)}` })).createWorkspace;

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
    await page?.screenshot({ path: join(ARTIFACTS, 'issue16-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('expired stays expired: no re-activate, the expiry locked, the gateway says api_key_expired', async () => {
  // createAPIKey refuses a past expiry: one a few seconds out, then wait it out.
  const expired = await createKey('e2e-expired', { expiresAt: new Date(Date.now() + 3000).toISOString() });
  await gatewaySays(gwEU, expired.secret, 401, 'api_key_expired');
  await page.goto(`/w/${ws.id}/keys`);
  const row = page.getByRole('table', { name: 'API keys' }).getByRole('row', { name: /e2e-expired/ });
  await eventually(async () => {
    await page.getByRole('button', { name: 'Refresh' }).click();
    assert.match(await row.innerText(), /Expired/);
  });
  await page.getByRole('button', { name: 'Actions for e2e-expired' }).click();
  await page.getByRole('menuitem', { name: 'Edit…' }).waitFor();
  for (const name of ['Re-activate', 'Enable']) assert.equal(await page.getByRole('menuitem', { name }).count(), 0, `no ${name} for an expired key`);
  await page.getByRole('menuitem', { name: 'Edit…' }).click();
  const dialog = page.getByRole('dialog', { name: /^Edit “e2e-expired”/ });
  await dialog.getByText('This key has expired and cannot be re-activated — generate a new key instead.').waitFor();
  assert.ok(await dialog.getByLabel('Expires at').isDisabled(), 'the expiry of an expired key cannot be moved');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
});

test('a revoked key is re-activated from the dashboard and serves again', async () => {
  const k = await createKey('e2e-comeback');
  await gql(`mutation($id: ID!) { revokeAPIKey(id: $id) { id } }`, { id: k.id });
  await gatewaySays(gwEU, k.secret, 401, 'api_key_revoked');
  await page.goto(`/w/${ws.id}/keys/${k.id}`);
  await page.getByRole('heading', { name: /e2e-comeback/ }).waitFor();
  await page.getByRole('button', { name: 'Re-activate' }).click();
  await page.getByRole('heading', { name: /e2e-comeback/ }).filter({ hasText: 'Active' }).waitFor();
  await gatewaySays(gwEU, k.secret, 200);
  await nav('Audit log').click();
  await page.getByRole('cell', { name: 'Key re-activated' }).first().waitFor();
});

test('gateway scope: a key bound to eu-prod serves there; us-east answers 401 invalid_api_key', async () => {
  await page.goto(`/w/${ws.id}/keys`);
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill('e2e-eu-only');
  await dialog.getByRole('combobox', { name: 'Gateway' }).click();
  await page.getByRole('option', { name: EU }).click();
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  await page.getByRole('button', { name: /I've stored it/ }).click();
  await gatewaySays(gwEU, secret, 200);
  await gatewaySays(gwUS, secret, 401, 'invalid_api_key');
  // Both gateways are listed with when they were last seen.
  await nav('Gateways').click();
  const table = page.getByRole('table', { name: 'Gateways' });
  for (const name of [EU, US]) await table.getByRole('row', { name: new RegExp(name) }).waitFor({ timeout: 15_000 });
});

test('screenshots: the edit dialog and the delete confirmation', async () => {
  // A workspace of its own, so the pictures show keys as a team would name them.
  const acme = (await gql(`mutation($n: String!) { createWorkspace(input: {name: $n}) { id name } }`, { n: 'acme-prod' })).createWorkspace;
  const make = (label, extra = {}) => gql(`mutation($in: CreateAPIKeyInput!) { createAPIKey(input: $in) { apiKey { id } } }`, { in: { workspaceID: acme.id, label, ...extra } });
  await make('analytics-batch', { maxRequests: 50000 });
  await make('staging-pipeline', { durationHours: 168 });
  await make('prod-payments-worker', { maxRequests: 10000, allowedModels: ['gpt-4o-mini'], creditQuotaCents: 2500, durationHours: 720 });
  await page.setViewportSize({ width: 1280, height: 1120 }); // the whole edit form, no scrolling
  await page.goto(`/w/${acme.id}/keys`);
  await page.getByRole('row', { name: /analytics-batch/ }).waitFor();
  await page.getByRole('button', { name: 'Actions for prod-payments-worker' }).click();
  await page.getByRole('menuitem', { name: 'Edit…' }).click();
  const dialog = page.getByRole('dialog', { name: /^Edit “prod-payments-worker”/ });
  await dialog.getByLabel('Label').waitFor();
  await dialog.getByLabel('IP allow-list').fill('203.0.113.0/24');
  await dialog.getByLabel('IP allow-list').press('Enter');
  await settled();
  await shot('edit-key-dialog', { docs: true, fullPage: false });
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.setViewportSize({ width: 1280, height: 860 });
  await page.getByRole('button', { name: 'Delete staging-pipeline' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete “staging-pipeline”?' });
  await confirm.getByText(/401 invalid_api_key/).waitFor();
  await settled();
  await shot('delete-key-dialog', { docs: true, fullPage: false });
  await confirm.getByRole('button', { name: 'Cancel' }).click();
});

/** settled waits for the page's animations (a dialog fading in) to finish, so a screenshot is not caught mid-fade. */
async function settled() {
  await page.waitForFunction(() => document.getAnimations().every((a) => a.playState !== 'running'));
}
