// End to end, issue 15: the browser's session lives in an HttpOnly cookie,
// a crafted SSO landing link signs nobody in, two-factor sign-in, and the
// session list. The real controlplane on SQLite, driven in Chromium.
import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { ARTIFACTS, freePort, launchChromium, randomPassword, startBinary, stopAll, waitForHTTP } from './harness.mjs';

const ADMIN_EMAIL = 'admin@example.com';
const ADMIN_PASSWORD = randomPassword(20);

let dir, cp, browser;

before(async () => {
  mkdirSync(ARTIFACTS, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'oais-e2e-security-'));
  const port = await freePort();
  cp = `http://127.0.0.1:${port}`;
  const proc = startBinary('controlplane', ['serve'], {
    OAIS_DATABASE_URL: `sqlite://${join(dir, 'oais.db')}`,
    OAIS_CONTROLPLANE_ADDR: `127.0.0.1:${port}`,
    OAIS_BOOTSTRAP_ADMIN_EMAIL: ADMIN_EMAIL,
    OAIS_BOOTSTRAP_ADMIN_PASSWORD: ADMIN_PASSWORD,
  });
  await waitForHTTP(`${cp}/readyz`, { proc });
  browser = await launchChromium();
});

after(async () => {
  try {
    await browser?.close();
  } finally {
    await stopAll();
    if (dir) rmSync(dir, { recursive: true, force: true });
  }
});

async function newPage() {
  const context = await browser.newContext({ viewport: { width: 1280, height: 860 }, baseURL: cp });
  const page = await context.newPage();
  return { context, page };
}

async function gql(query, variables, token) {
  const res = await fetch(`${cp}/graphql`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...(token ? { Authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  return res.json();
}

async function signUp(email, password) {
  const r = await gql(`mutation($e: String!, $p: String!) { signUp(email: $e, password: $p) { accessToken refreshToken expiresAt } }`, { e: email, p: password });
  assert.ok(r.data?.signUp, JSON.stringify(r));
  return r.data.signUp;
}

async function signInUI(page, email, password, otp) {
  await page.goto('/signin');
  const form = page.getByRole('form', { name: 'Sign in' });
  await form.getByLabel('E-mail').fill(email);
  await form.getByLabel('Password').fill(password);
  await form.getByRole('button', { name: 'Sign in', exact: true }).click();
  if (otp) {
    const code = form.getByLabel('Authentication code');
    await code.waitFor();
    await code.fill(await otp());
    await form.getByRole('button', { name: 'Sign in', exact: true }).click();
  }
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

/** totp is RFC 6238 (SHA-1, 6 digits, 30 s) of a base32 secret, stepsAhead steps from now. */
function totp(secret, stepsAhead = 0) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secret.replace(/=+$/, '').toUpperCase()) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g).map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(Date.now() / 30_000) + stepsAhead));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1] & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

test('a crafted /auth/complete link signs nobody into the attacker’s account', async () => {
  // The attacker signs up and puts their own tokens into a link, as the SSO
  // landing used to accept them in its fragment.
  const attacker = await signUp(`attacker-${Date.now().toString(36)}@example.com`, randomPassword(20));
  const link =
    `/auth/complete#access_token=${encodeURIComponent(attacker.accessToken)}` +
    `&refresh_token=${encodeURIComponent(attacker.refreshToken)}&expires_at=${encodeURIComponent(attacker.expiresAt)}`;

  const { context, page } = await newPage();
  await page.goto(link);
  await page.getByRole('heading', { name: "Single sign-on didn't finish" }).waitFor();
  assert.equal(new URL(page.url()).hash, '', 'the tokens leave the address bar');
  await page.goto('/');
  await page.waitForURL(/\/signin/);
  const stored = await page.evaluate(() => JSON.stringify({ ...localStorage, ...sessionStorage }));
  assert.doesNotMatch(stored, /oais_rt_|eyJ/);
  await context.close();
});

test('the refresh token is an HttpOnly cookie that script cannot read', async () => {
  const { context, page } = await newPage();
  await signInUI(page, ADMIN_EMAIL, ADMIN_PASSWORD);
  const readable = await page.evaluate(() => JSON.stringify({ local: { ...localStorage }, session: { ...sessionStorage }, cookie: document.cookie }));
  assert.doesNotMatch(readable, /oais_rt_/, 'no refresh token where script can read it');
  assert.doesNotMatch(readable, /eyJ/, 'no access token in storage either');
  const cookie = (await context.cookies()).find((c) => c.name === 'oais_refresh');
  assert.ok(cookie, 'the refresh cookie is set');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/auth/session');
  assert.match(cookie.value, /^oais_rt_/);
  // A reload keeps the session: the page asks its cookie for a new access token.
  await page.reload();
  await page.getByRole('button', { name: 'Account menu' }).waitFor();
  assert.doesNotMatch(page.url(), /\/signin/);
  await context.close();
});

test('two-factor sign-in: enrol with the QR code key, then sign in with a code', async () => {
  const email = `mfa-${Date.now().toString(36)}@example.com`;
  const password = randomPassword(20);
  await signUp(email, password);
  const { context, page } = await newPage();
  await signInUI(page, email, password);

  await page.goto('/security');
  await page.getByRole('heading', { level: 1, name: 'Account security' }).waitFor();
  await page.getByRole('button', { name: 'Set up two-factor sign-in' }).click();
  await page.getByRole('img', { name: 'QR code for your authenticator app' }).waitFor();
  const secret = await page.getByLabel('Authenticator key').innerText();
  assert.match(secret, /^[A-Z2-7]{32}$/);
  await page.screenshot({ path: join(ARTIFACTS, 'mfa-enrol.png') });
  await page.getByLabel('Code from the app').fill(totp(secret));
  await page.getByRole('button', { name: 'Turn on' }).click();
  const codes = page.getByRole('list', { name: 'Recovery codes' }).getByRole('listitem');
  await codes.first().waitFor();
  assert.equal(await codes.count(), 10);
  await page.getByRole('button', { name: "I've saved them" }).click();
  await page.getByText('Signing in asks for a code from your authenticator app.').waitFor();

  // Sign out, then in again: the password alone now asks for a code.
  await page.getByRole('button', { name: 'Account menu' }).click();
  await page.getByRole('menuitem', { name: 'Sign out' }).click();
  await page.waitForURL(/\/signin/);
  // The next time step's code: the one used to turn it on never works again.
  await signInUI(page, email, password, async () => totp(secret, 1));
  await page.goto('/security');
  await page.getByText('Signing in asks for a code from your authenticator app.').waitFor();
  await context.close();
});

test('the session list: sign out another browser', async () => {
  const email = `sessions-${Date.now().toString(36)}@example.com`;
  const password = randomPassword(20);
  await signUp(email, password);
  const laptop = await newPage();
  const phone = await newPage();
  await signInUI(laptop.page, email, password);
  await signInUI(phone.page, email, password);

  await laptop.page.goto('/security');
  const table = laptop.page.getByRole('table', { name: 'Sessions' });
  await table.waitFor();
  // The sign-up's session, the laptop's and the phone's.
  await laptop.page.waitForFunction(() => document.querySelectorAll('table[aria-label="Sessions"] tbody tr').length === 3);
  await table.getByText('This browser').waitFor();
  await laptop.page.screenshot({ path: join(ARTIFACTS, 'sessions.png') });
  const others = table.getByRole('button', { name: /^Sign out / });
  assert.equal(await others.count(), 2);
  while ((await others.count()) > 0) {
    await others.first().click();
    await laptop.page.waitForTimeout(300);
  }
  await laptop.page.waitForFunction(() => document.querySelectorAll('table[aria-label="Sessions"] tbody tr').length === 1);

  // The phone's session is over: on its next load it lands on sign-in.
  await phone.page.reload();
  await phone.page.waitForURL(/\/signin/);
  // The laptop is still signed in.
  await laptop.page.reload();
  await laptop.page.getByRole('table', { name: 'Sessions' }).waitFor();
  await laptop.context.close();
  await phone.context.close();
});
