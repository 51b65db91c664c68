// End to end, issue 16: groups and named gateways through the dashboard
// against the real binaries (SQLite), one step each: a site admin defines a
// group; the named gateway shows on the Gateways page; a key generated for
// that gateway in its group works there.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);
const GATEWAY_NAME = 'eu-prod';

let dir, cp, gw, browser, page;
const consoleErrors = [];

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `groups-gateways-${name}.png`), fullPage: true });
}

/** nav is a link of the workspace's navigation. */
const nav = (name) => page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name, exact: true });

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-groups-'));
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
  const gwProc = startBinary('gateway', ['serve'], { ...env, OAIS_GATEWAY_NAME: GATEWAY_NAME });
  await waitForHTTP(`${gw}/healthz`, { proc: gwProc });
  browser = await launchChromium();
  const context = await browser.newContext({ viewport: { width: 1280, height: 900 }, baseURL: cp });
  page = await context.newPage();
  page.on('pageerror', (e) => consoleErrors.push(String(e)));

  await page.goto('/signin');
  await page.getByLabel('E-mail').first().fill(ADMIN_EMAIL);
  await page.getByLabel('Password').first().fill(ADMIN_PASSWORD);
  await page.getByRole('button', { name: 'Sign in', exact: true }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
  const wsName = `groups-${Date.now().toString(36)}`;
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
  await page.waitForURL(/\/w\/[^/]+\/keys$/);
});

after(async () => {
  try {
    await page?.screenshot({ path: join(ARTIFACTS, 'groups-gateways-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('groups: the site admin creates a group; it is listed with its multiplier', async () => {
  await nav('Groups').click();
  await page.getByRole('heading', { name: 'Groups', exact: true }).waitFor();
  const form = page.getByRole('form', { name: 'New group' });
  await form.getByLabel('Name').fill('plus-50');
  await form.getByLabel('Price multiplier (basis points)').fill('150000');
  await form.getByRole('button', { name: 'Create group' }).click();
  // Checked inline before anything is sent.
  await form.getByText('The multiplier can be at most 100000.').waitFor();
  await form.getByLabel('Price multiplier (basis points)').fill('15000');
  await form.getByRole('button', { name: 'Create group' }).click();
  const row = page.getByRole('table', { name: 'Groups' }).getByRole('row', { name: /plus-50/ });
  await row.waitFor();
  assert.match(await row.innerText(), /1\.5× list/);
  await shot('groups');
});

test('gateways: the named gateway is listed with when it was last seen', async () => {
  await nav('Gateways').click();
  const row = page.getByRole('table', { name: 'Gateways' }).getByRole('row', { name: new RegExp(GATEWAY_NAME) });
  await row.waitFor({ timeout: 15_000 });
  assert.match(await row.innerText(), /ago|now|second/i);
  await shot('gateways');
});

test('a key generated for eu-prod in the group works on eu-prod', async () => {
  await nav('API keys').click();
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill('eu-only');
  await dialog.getByRole('combobox', { name: 'Group' }).click();
  await page.getByRole('option', { name: /plus-50/ }).click();
  await dialog.getByRole('combobox', { name: 'Gateway' }).click();
  await page.getByRole('option', { name: GATEWAY_NAME }).click();
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  await page.getByRole('button', { name: /I've stored it/ }).click();
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'Hello from eu-prod.' }] }),
  });
  assert.equal(res.status, 200, await res.text());
});
