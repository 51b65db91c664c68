// End to end: the dashboard flows that exist but no other browser test
// drives (issue 16), against the real controlplane and gateway binaries on
// SQLite: SSO sign-in (a stand-in OIDC provider, internal/controlplane/cmd/
// oidcmock, built here), rotate, disable and enable, members and invites,
// workspace limits, the spend cap and the billing page. Each step asserts
// what the user sees.
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { ARTIFACTS, eventually, freePort, launchChromium, mailedLink, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);
const SSO_EMAIL = `sso-${Date.now().toString(36)}@example.com`;

let dir, cp, gw, cpProc, idp, browser, page, wsPath, wsName, wsID;
const consoleErrors = [];

async function shot(name) {
  await page.screenshot({ path: join(ARTIFACTS, `flows-${name}.png`), fullPage: true });
}

async function chat(secret) {
  const res = await fetch(`${gw}/v1/chat/completions`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${secret}`, 'Content-Type': 'application/json' },
    body: JSON.stringify({ model: 'mock-gpt', messages: [{ role: 'user', content: 'Say hello from the flows suite.' }] }),
  });
  return { status: res.status, body: await res.json().catch(() => null) };
}

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

/** gql runs one GraphQL operation from Node (setting up what the browser then shows). */
async function gql(token, query, variables = {}) {
  const res = await fetch(`${cp}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await res.json();
  assert.equal(body.errors, undefined, JSON.stringify(body.errors));
  return body.data;
}

/** nav is a link of the workspace's navigation. */
const nav = (name) => page.getByRole('navigation', { name: 'Workspace' }).getByRole('link', { name, exact: true });

/** toast waits for a notification whose title is text. */
const toast = (text) => page.getByText(text, { exact: true }).first().waitFor();

/** generate fills the Generate dialog and returns the secret shown once. */
async function generate(label) {
  await page.goto(`${wsPath}/keys`);
  await page.getByRole('button', { name: '+ Generate key' }).first().click();
  const dialog = page.getByRole('dialog', { name: 'Generate API key' });
  await dialog.getByLabel('Label').fill(label);
  await dialog.getByRole('button', { name: 'Generate key' }).click();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  await secretBox.waitFor();
  const secret = await secretBox.inputValue();
  await page.getByRole('button', { name: /I've stored it/ }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  return secret;
}

/** startIdP builds and starts the stand-in OIDC provider and returns what it printed. */
async function startIdP() {
  const bin = join(ARTIFACTS, 'oidcmock');
  execFileSync('go', ['build', '-o', bin, './internal/controlplane/cmd/oidcmock'], { cwd: REPO, stdio: 'inherit' });
  idp = spawn(bin, ['-email', SSO_EMAIL], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((ok, fail) => {
    let out = '';
    idp.on('exit', (code) => fail(new Error(`oidcmock exited with ${code}`)));
    idp.stdout.on('data', (b) => {
      out += b.toString();
      const line = out.split('\n')[0];
      if (out.includes('\n')) ok(JSON.parse(line));
    });
  });
}

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-flows-'));
  const oidc = await startIdP();
  const [cpPort, gwPort] = [await freePort(), await freePort()];
  cp = `http://127.0.0.1:${cpPort}`;
  gw = `http://127.0.0.1:${gwPort}`;
  const env = {
    OAIS_DATABASE_URL: `sqlite://${join(dir, 'oais.db')}`,
    OAIS_CONTROLPLANE_ADDR: `127.0.0.1:${cpPort}`,
    OAIS_GATEWAY_ADDR: `127.0.0.1:${gwPort}`,
    // The provider sends the browser back here.
    OAIS_PUBLIC_URL: cp,
    OAIS_SPOOL_DIR: join(dir, 'spool'),
    OAIS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    OAIS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
    OAIS_OIDC_ISSUER: oidc.issuer,
    OAIS_OIDC_CLIENT_ID: oidc.client_id,
    OAIS_OIDC_CLIENT_SECRET: oidc.client_secret,
  };
  cpProc = startBinary('controlplane', ['serve'], env);
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
  wsName = `flows-${Date.now().toString(36)}`;
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
  wsID = wsPath.split('/').pop();
});

after(async () => {
  try {
    await page?.screenshot({ path: join(ARTIFACTS, 'flows-last-state.png'), fullPage: true }).catch(() => undefined);
    if (consoleErrors.length) console.log('browser errors:\n' + consoleErrors.join('\n'));
    await browser?.close();
  } finally {
    idp?.kill('SIGTERM');
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

test('SSO sign-in: the identity provider signs a new person in', async () => {
  // A browser of their own, signed out.
  const theirs = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: cp });
  const them = await theirs.newPage();
  them.on('pageerror', (e) => consoleErrors.push(String(e)));
  await them.goto('/signin');
  await them.getByRole('link', { name: 'Sign in with SSO' }).click();
  // The provider answers at once and sends them back, signed in.
  await them.waitForURL((u) => u.origin === cp && !u.pathname.startsWith('/signin') && !u.pathname.startsWith('/auth'), { timeout: 20_000 });
  await them.getByRole('heading', { name: 'Create your first workspace' }).waitFor();
  await them.getByText(`Signed in as ${SSO_EMAIL}.`).waitFor();
  await them.screenshot({ path: join(ARTIFACTS, 'flows-sso-signed-in.png'), fullPage: true });
  await them.getByRole('button', { name: 'New workspace' }).click();
  await them.getByLabel('Workspace name').fill('sso-team');
  await them.getByRole('button', { name: 'Create workspace' }).click();
  await them.getByRole('button', { name: 'Workspace: sso-team. Switch workspace' }).waitFor();
  await theirs.close();

  // Another browser, SSO again: the same account, workspace and all.
  const again = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: cp });
  const back = await again.newPage();
  await back.goto('/signin');
  await back.getByRole('link', { name: 'Sign in with SSO' }).click();
  await back.getByRole('button', { name: 'Workspace: sso-team. Switch workspace' }).waitFor({ timeout: 20_000 });
  assert.match(await back.getByRole('button', { name: 'Account menu' }).innerText(), new RegExp(SSO_EMAIL.replace(/[.]/g, '\\.')));
  await again.close();
});

test('rotate: a replacement shown once, both keys serve during the grace window', async () => {
  const old = await generate('rotate-me');
  await gatewaySays(old, 200);
  await page.getByRole('button', { name: 'Actions for rotate-me' }).click();
  await page.getByRole('menuitem', { name: 'Rotate…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Rotate “rotate-me”' });
  await dialog.getByText('24 hours (default)').waitFor();
  await dialog.getByRole('button', { name: 'Rotate key' }).click();
  await page.getByRole('dialog', { name: 'Key rotated' }).waitFor();
  const secretBox = page.getByRole('textbox', { name: 'Your new API key' });
  const fresh = await secretBox.inputValue();
  assert.match(fresh, /^sk-oais-[0-9A-Za-z]+$/);
  assert.notEqual(fresh, old);
  await page.getByText(/keeps working until .* \(the grace window\), then stops/).waitFor();
  await shot('rotated');
  await page.getByRole('button', { name: /I've stored it/ }).click();
  await page.getByRole('dialog').waitFor({ state: 'detached' });
  // Both rows carry the label; both keys serve.
  await eventually(async () => assert.equal(await page.getByRole('row', { name: /rotate-me/ }).count(), 2));
  await gatewaySays(fresh, 200);
  await gatewaySays(old, 200);
});

test('disable and enable: the gateway refuses, then serves again', async () => {
  const secret = await generate('switch-me');
  await gatewaySays(secret, 200);
  const row = page.getByRole('row', { name: /switch-me/ });
  await page.getByRole('button', { name: 'Actions for switch-me' }).click();
  await page.getByRole('menuitem', { name: 'Disable' }).click();
  await toast('Disabled “switch-me”');
  await eventually(async () => assert.match(await row.innerText(), /Disabled/));
  await gatewaySays(secret, 401, 'api_key_disabled');
  await shot('disabled');

  await page.getByRole('button', { name: 'Actions for switch-me' }).click();
  await page.getByRole('menuitem', { name: 'Enable' }).click();
  await toast('Enabled “switch-me”');
  await eventually(async () => assert.match(await row.innerText(), /Active/));
  await gatewaySays(secret, 200);
});

test('members and invites: invite, resend, revoke; change a role, remove a member', async () => {
  await nav('Members').click();
  await page.getByRole('heading', { level: 1, name: 'Members' }).waitFor();

  // An invitation, sent again, then revoked.
  const invitee = `invitee-${Date.now().toString(36)}@example.com`;
  await page.getByLabel('Invite by e-mail').fill(invitee);
  await page.getByRole('button', { name: 'Invite', exact: true }).click();
  await page.getByText(`Invitation sent to ${invitee}`).first().waitFor();
  const pending = page.getByRole('table', { name: 'Pending invitations' }).getByRole('row', { name: new RegExp(invitee) });
  await pending.waitFor();
  assert.match(await pending.innerText(), /Pending/);
  // Sent moments ago: resending now is refused, and the dashboard says so.
  await page.getByRole('button', { name: `Resend the invitation to ${invitee}` }).click();
  await toast('Could not resend the invitation');
  await page.getByRole('button', { name: `Revoke the invitation to ${invitee}` }).click();
  await toast(`Invitation to ${invitee} revoked`);
  await pending.waitFor({ state: 'detached' });

  // A member who joined (set up through the API: the invitation's own
  // browser flow is dashboard.test.mjs's).
  const member = `member-${Date.now().toString(36)}@example.com`;
  const signedUp = await gql('', 'mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { accessToken } }', { e: member, p: randomPassword(20) });
  const memberToken = signedUp.signUp.accessToken;
  await gql('', 'mutation($t: String!) { verifyEmail(token: $t) }', { t: new URL(await mailedLink(cpProc, member, '/verify-email')).searchParams.get('token') });
  const admin = await gql('', 'mutation($e: String!, $p: String!) { signIn(email: $e, password: $p) { accessToken } }', { e: ADMIN_EMAIL, p: ADMIN_PASSWORD });
  await gql(admin.signIn.accessToken, 'mutation($ws: ID!, $e: String!) { inviteMember(workspaceID: $ws, email: $e, role: DEVELOPER) { id } }', { ws: wsID, e: member });
  await gql(memberToken, 'mutation($t: String!) { acceptInvite(token: $t) { id } }', { t: new URL(await mailedLink(cpProc, member, '/invite/accept')).searchParams.get('token') });

  await page.reload();
  const row = page.getByRole('table', { name: 'Members' }).getByRole('row', { name: new RegExp(member) });
  await row.waitFor();
  assert.match(await row.innerText(), /Developer/);

  // Their role changes to Viewer.
  await page.getByRole('combobox', { name: `Role of ${member}` }).click();
  await page.getByRole('option', { name: 'Viewer' }).click();
  await toast(`${member} is now viewer`);
  await eventually(async () => assert.match(await row.innerText(), /Viewer/));
  await shot('members-role');

  // Removed, they are gone from the list.
  await row.getByRole('button', { name: 'Remove' }).click();
  const confirm = page.getByRole('alertdialog', { name: `Remove ${member}?` });
  await confirm.getByText('They lose access to this workspace at once.').waitFor();
  await confirm.getByRole('button', { name: 'Remove member' }).click();
  await toast(`Removed ${member}`);
  await row.waitFor({ state: 'detached' });
});

test('workspace limits: refused inline, then enforced by the gateway', async () => {
  const secret = await generate('limited');
  await gatewaySays(secret, 200);
  await nav('Limits').click();
  await page.getByRole('heading', { level: 1, name: 'Limits' }).waitFor();
  const rpm = page.getByLabel('Requests per minute (RPM)');

  await rpm.fill('lots');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await page.getByText('Requests per minute (RPM) must be a whole number, 0 or more.').first().waitFor();

  await rpm.fill('1');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await toast('Limits saved');
  // Saved: a fresh load of the page shows it.
  await page.reload();
  await eventually(async () => assert.equal(await page.getByLabel('Requests per minute (RPM)').inputValue(), '1'));
  await shot('limits');
  // One request a minute for the whole workspace: the next is refused.
  await gatewaySays(secret, 429, 'rate_limit_exceeded');

  // Unlimited again, for the steps after this one.
  await page.getByLabel('Requests per minute (RPM)').fill('0');
  await page.getByRole('button', { name: 'Save limits' }).click();
  await toast('Limits saved');
});

test('spend cap: refused inline, set with a progress bar, removed', async () => {
  await nav('Billing').click();
  await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor();
  await page.getByText('No spend cap: usage is not limited by cost.').waitFor();
  const cap = page.getByLabel('Cap in US dollars');

  await cap.fill('ten dollars');
  await page.getByRole('button', { name: 'Save cap' }).click();
  await page.getByText('Enter an amount in dollars, such as 250 or 99.50 — or leave it empty for no cap.').waitFor();

  await cap.fill('250');
  await page.getByRole('button', { name: 'Save cap' }).click();
  await toast('Spend cap set to $250.00 a month');
  await page.getByText('of a $250.00 monthly cap').waitFor();
  const bar = page.getByRole('progressbar', { name: 'Spend against the monthly cap' });
  await bar.waitFor();
  assert.match(await bar.getAttribute('aria-valuetext'), /% of the cap used$/);
  await shot('spend-cap');

  await cap.fill('');
  await page.getByRole('button', { name: 'Save cap' }).click();
  await toast('Spend cap removed');
  await page.getByText('No spend cap: usage is not limited by cost.').waitFor();
  assert.equal(await bar.count(), 0);
});

test('billing: this month’s spend and standing; online billing not set up here', async () => {
  await nav('Billing').click();
  await page.getByRole('heading', { level: 1, name: 'Billing' }).waitFor();
  const month = page.getByRole('region', { name: /^Spend in / });
  await month.waitFor();
  await month.getByText('In good standing').waitFor();
  // The month's spend in dollars and cents (the mock's few requests round to cents).
  assert.match(await month.innerText(), /\$\d[\d,]*\.\d{2}\n/);
  // No Stripe on this server: the dashboard says so instead of a checkout.
  await page.getByRole('button', { name: 'Add payment method' }).click();
  await toast('Online billing is not set up on this server');
  await shot('billing');
});
