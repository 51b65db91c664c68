// End to end, issue 17: a workspace's channels through the dashboard against
// the real controlplane and gateway binaries (SQLite): create one (validated
// inline), see its key only as a mask, edit it, delete it; the bootstrap
// admin also sees the site-wide section.
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

/** nav is a link of the workspace's navigation. */
const nav = (name) => page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name, exact: true });

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-channels-'));
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
    // The routed step's channel points at this gateway itself, on loopback.
    OAIS_UPSTREAM_ALLOWED_NETWORKS: '127.0.0.1/32',
    OAIS_UNPRICED_MODEL_PRICE: '1,1,1',
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
  const wsName = `channels-${Date.now().toString(36)}`;
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
    await page?.screenshot({ path: join(ARTIFACTS, 'channels-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('channels: create with inline validation, the key write-only, edit, delete', async () => {
  const providerKey = `sk-provider-${randomPassword(24)}`;
  await nav('Channels').click();
  await page.getByRole('heading', { name: 'Channels', exact: true }).waitFor();
  await page.getByRole('heading', { name: 'Site-wide channels' }).waitFor();
  await page.getByRole('button', { name: 'New channel', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'New channel' });
  await dialog.getByLabel('Name').fill('azure-east');
  await dialog.getByLabel('Type').selectOption('AZURE');
  await dialog.getByLabel('Base URL').fill('ftp://llm.example.com');
  await dialog.getByLabel('API key').fill(providerKey);
  await dialog.getByLabel('Models').fill('gpt-4o, gpt-4o-mini');
  await dialog.getByLabel('Model mapping').fill('gpt-4o=my-deployment');
  await dialog.getByLabel('Weight').fill('-1');
  await dialog.getByRole('button', { name: 'Save channel' }).click();
  await dialog.getByText(/Enter an http\(s\) URL/).waitFor();
  await dialog.getByText('Weight must be 0 or more.').waitFor();
  await dialog.getByLabel('Base URL').fill('https://llm.example.com/openai');
  await dialog.getByLabel('Weight').fill('3');
  await dialog.getByRole('button', { name: 'Save channel' }).click();
  await dialog.waitFor({ state: 'detached' });
  const row = page.getByRole('table', { name: 'Workspace channels' }).getByRole('row', { name: /azure-east/ });
  await row.waitFor();
  await row.getByText(`sk-…${providerKey.slice(-4)}`).waitFor();
  assert.ok(!(await page.content()).includes(providerKey), 'the page shows the provider key');

  // Edit: the key field stays empty (write-only) and an empty one keeps it.
  await page.getByRole('button', { name: 'Edit azure-east' }).click();
  const edit = page.getByRole('dialog', { name: 'Edit channel azure-east' });
  assert.equal(await edit.getByLabel('API key').inputValue(), '');
  await edit.getByText(/A key is stored/).waitFor();
  await edit.getByLabel('Priority').fill('7');
  await edit.getByRole('button', { name: 'Save channel' }).click();
  await edit.waitFor({ state: 'detached' });
  await row.getByRole('cell', { name: '7 / 3' }).waitFor();
  await row.getByText(`sk-…${providerKey.slice(-4)}`).waitFor();
  await page.screenshot({ path: join(ARTIFACTS, 'channels-edited.png'), fullPage: true });

  await page.getByRole('button', { name: 'Delete azure-east' }).click();
  const confirm = page.getByRole('alertdialog', { name: 'Delete channel azure-east?' });
  await confirm.getByRole('button', { name: 'Delete channel' }).click();
  await confirm.waitFor({ state: 'detached' });
  await row.waitFor({ state: 'detached' });
  await nav('Audit log').click();
  await page.getByText(/channel\.created|Channel created/).first().waitFor();
  assert.deepEqual(consoleErrors, []);
});

test('a channel made in the dashboard serves requests: x-oais-channel names it', async () => {
  // A key of the workspace, generated in the dashboard.
  await nav('API keys').click();
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const gen = page.getByRole('dialog', { name: 'Generate API key' });
  await gen.getByLabel('Label').fill('e2e-channel');
  await gen.getByRole('button', { name: 'Generate key' }).click();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  await page.getByRole('button', { name: /I've stored it/ }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });

  // The channel is this gateway itself: it serves "via-channel" as the
  // built-in mock's model, which the inner request gets from the mock.
  await nav('Channels').click();
  await page.getByRole('button', { name: 'New channel', exact: true }).click();
  const dialog = page.getByRole('dialog', { name: 'New channel' });
  await dialog.getByLabel('Name').fill('loop-1');
  await dialog.getByLabel('Base URL').fill(`${gw}/v1`);
  await dialog.getByLabel('API key').fill(secret);
  await dialog.getByLabel('Models').fill('via-channel');
  await dialog.getByLabel('Model mapping').fill('via-channel=mock-gpt');
  await dialog.getByRole('button', { name: 'Save channel' }).click();
  await dialog.waitFor({ state: 'detached' });

  await eventually(
    async () => {
      const res = await fetch(`${gw}/v1/chat/completions`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
        body: JSON.stringify({ model: 'via-channel', messages: [{ role: 'user', content: 'hello through a channel' }] }),
      });
      const body = await res.text();
      assert.equal(res.status, 200, body);
      assert.equal(res.headers.get('x-oais-channel'), 'loop-1');
    },
    { timeoutMs: 15_000, intervalMs: 250 },
  );
});
