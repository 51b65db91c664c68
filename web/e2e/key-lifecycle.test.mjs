// End to end, issue 16: a key's lifecycle through the dashboard against the
// real controlplane and gateway binaries (SQLite), one step each: generate
// with a lifetime in hours and a credit quota, edit (validated inline, then
// enforced by the gateway), top up, reset a rate-limited key, switch the
// workspace off and on, delete.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, eventually, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);

let dir, cp, gw, browser, page, wsPath;
const consoleErrors = [];

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `lifecycle-${name}.png`), fullPage: true });
}

async function chat(secret, model = 'mock-gpt') {
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model, messages: [{ role: 'user', content: 'Say hello from the lifecycle suite.' }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

/** nav is a link of the workspace's navigation. */
const nav = (name) => page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name, exact: true });

/** gatewaySays polls the gateway until the key's next call gets status (and code). */
async function gatewaySays(secret, status, code) {
  await eventually(
    async () => {
      const r = await chat(secret);
      assert.equal(r.status, status, JSON.stringify(r.body));
      if (code) assert.equal(r.body?.error?.code, code);
    },
    { timeoutMs: 15_000, intervalMs: 200 },
  );
}

/** generate fills the Generate dialog and returns the secret shown once. */
async function generate(label, { hours, maxRequests, credit } = {}) {
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill(label);
  if (hours) await dialog.getByRole('radio', { name: `${hours} h`, exact: true }).check();
  if (maxRequests) await dialog.getByLabel('Max requests').fill(String(maxRequests));
  if (credit) await dialog.getByLabel('Credit quota').fill(credit);
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  const note = await page.getByRole('dialog', { name: 'Your new API key' }).innerText();
  await page.getByRole('button', { name: /I've stored it/ }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  return { secret, note };
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-life-'));
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
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: cp });
  page = await context.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  // Signed in as the bootstrap admin, in a workspace of this suite's own.
  await page.goto('/signin');
  await page.getByLabel('E-mail').first().fill(ADMIN_EMAIL);
  await page.getByLabel('Password').first().fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
  const wsName = `life-${Date.now().toString(36)}`;
  const firstRun = page.getByRole('heading', { name: 'Create your first workspace' });
  const switcher = page.getByRole('button', { name: /Switch workspace/ });
  await firstRun.or(switcher).first().waitFor();
  if (await firstRun.isVisible()) {
    await page.getByRole('button', { name: 'New workspace' }).click();
  } else {
    await switcher.click();
    await page.getByRole('menuitem', { name: '+ New workspace' }).click();
  }
  await page.getByLabel('Workspace name').fill(wsName);
  await page.getByRole('button', { name: 'Create workspace' }).click();
  await page.getByRole('button', { name: `Workspace: ${wsName}. Switch workspace` }).waitFor();
  await page.waitForURL(/\/w\/[^/]+\/keys$/);
  wsPath = new URL(page.url()).pathname.replace(/\/keys$/, '');
});

after(async () => {
  try {
    await page?.screenshot({ path: join(ARTIFACTS, 'lifecycle-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

let life; // the key the steps share: { secret }

test('generate: a lifetime in hours from a preset chip, and a credit quota', async () => {
  life = await generate('e2e-life', { hours: 8, credit: '5' });
  assert.match(life.note, /Expires /);
  const row = page.getByRole('row', { name: /e2e-life/ });
  await row.waitFor();
  // The detail page shows the quota and an expiry 8 hours out.
  await row.getByRole('link').first().click();
  await page.getByRole('heading', { name: 'Credit' }).waitFor();
  await page.getByText(/of \$5\.00/).waitFor();
  await page.getByText(/\(in [78] hr?\.?\)|\(in [78] hours\)/).first().waitFor();
  assert.equal((await chat(life.secret)).status, 200);
  await shot('generated');
});

test('edit: bad input is refused inline; the saved change reaches the gateway', async () => {
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: /^Edit “e2e-life”/ });
  await dialog.getByLabel('Label').waitFor();
  // A CIDR that is not one never becomes a chip.
  await dialog.getByLabel('IP allow-list').fill('10.0.0.0/33');
  await dialog.getByLabel('IP allow-list').press('Enter');
  await dialog.getByText('“10.0.0.0/33” is not an IP address or CIDR range, e.g. 203.0.113.0/24.').waitFor();
  await dialog.getByLabel('IP allow-list').fill('');
  // A past expiry is refused before anything is sent.
  const expiry = await dialog.getByLabel('Expires at').inputValue();
  assert.ok(expiry, 'the 8-hour expiry is in the form');
  await dialog.getByLabel('Expires at').fill('2020-01-01T10:00');
  await dialog.getByRole('button', { name: 'Save changes' }).click();
  await dialog.getByText('The expiry must be in the future.').waitFor();
  await dialog.getByLabel('Expires at').fill(expiry);
  // Restrict the key to another model: the gateway refuses the one we call.
  await dialog.getByLabel('Allowed models').fill('gpt-4o');
  await dialog.getByLabel('Allowed models').press('Enter');
  await shot('edit-dialog');
  await dialog.getByRole('button', { name: 'Save changes' }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByText('gpt-4o', { exact: true }).waitFor();
  await gatewaySays(life.secret, 403, 'model_not_allowed');
  // Lift it again.
  await page.getByRole('button', { name: 'Edit', exact: true }).click();
  const again = page.getByRole('dialog', { name: /^Edit “e2e-life”/ });
  await again.getByRole('button', { name: 'Remove gpt-4o' }).click();
  await again.getByRole('button', { name: 'Save changes' }).click();
  await again.waitFor({ state: 'detached' });
  await gatewaySays(life.secret, 200);
});

test('top up: the credit quota is raised', async () => {
  await page.getByRole('button', { name: 'Top up…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Top up “e2e-life”' });
  await dialog.getByLabel('Amount to add').fill('2.50');
  await dialog.getByText('New quota: $7.50').waitFor();
  await dialog.getByRole('button', { name: 'Top up', exact: true }).click();
  await dialog.waitFor({ state: 'detached' });
  await page.getByText(/of \$7\.50/).waitFor();
  // The edits kept the 8-hour expiry.
  await page.getByText(/\(in [78] hr?\.?\)|\(in [78] hours\)/).first().waitFor();
  await shot('topped-up');
});

test('reset: a rate-limited key serves again', async () => {
  await page.goto(`${wsPath}/keys`);
  const limited = await generate('e2e-limited', { maxRequests: 2 });
  for (let i = 0; i < 2; i++) assert.equal((await chat(limited.secret)).status, 200);
  await gatewaySays(limited.secret, 429, 'key_request_limit_reached');
  const row = page.getByRole('row', { name: /e2e-limited/ });
  await eventually(
    async () => {
      await page.getByRole('button', { name: 'Refresh' }).click();
      assert.match(await row.innerText(), /Rate limited/);
    },
    { timeoutMs: 20_000, intervalMs: 1000 },
  );
  await page.getByRole('button', { name: 'Actions for e2e-limited' }).click();
  await page.getByRole('menuitem', { name: 'Reset request count…' }).click();
  const confirm = page.getByRole('alertdialog');
  await confirm.getByRole('button', { name: 'Reset count' }).click();
  await confirm.waitFor({ state: 'detached' });
  await eventually(async () => assert.match(await row.innerText(), /Active/));
  await gatewaySays(limited.secret, 200);
});

test('an inactive workspace: its keys refused, no key generated, until activated', async () => {
  await nav('Limits').click();
  await page.getByRole('heading', { name: 'Workspace status' }).waitFor();
  await page.getByRole('button', { name: 'Deactivate workspace' }).click();
  await page.getByRole('alertdialog').getByRole('button', { name: 'Deactivate workspace' }).click();
  await page.getByText('This workspace is inactive.', { exact: false }).first().waitFor();
  await gatewaySays(life.secret, 403, 'workspace_inactive');
  await nav('API keys').click();
  await page.getByText(/This workspace is inactive: every gateway refuses its keys/).waitFor();
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill('e2e-refused');
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  await dialog.getByRole('alert').filter({ hasText: 'Cannot generate tokens for inactive workspace' }).waitFor();
  await shot('inactive');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  await nav('Limits').click();
  await page.getByRole('button', { name: 'Activate workspace' }).click();
  await page.getByText(/This workspace is\s+active/).waitFor();
  await gatewaySays(life.secret, 200);
});

test('delete: the bin icon, a confirmation, and the gateway forgets the key', async () => {
  await page.goto(`${wsPath}/keys`);
  const row = page.getByRole('row', { name: /e2e-life/ });
  await row.waitFor();
  await page.getByRole('button', { name: 'Delete e2e-life' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete “e2e-life”?' });
  await confirm.getByText(/401 invalid_api_key/).waitFor();
  await confirm.getByRole('button', { name: 'Delete key' }).click();
  await confirm.waitFor({ state: 'detached' });
  await row.waitFor({ state: 'detached' });
  await gatewaySays(life.secret, 401, 'invalid_api_key');
  // The audit log names the deletion.
  await nav('Audit log').click();
  await page.getByRole('cell', { name: 'Key deleted' }).first().waitFor();
  await shot('deleted');
});
