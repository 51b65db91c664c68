// Screenshots of every page against the fixture server (no Go binaries
// needed), at desktop and phone widths, into e2e/artifacts/fixtures/.
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { startFixtureServer } from './fixture-server.mjs';
import { ARTIFACTS, launchChromium } from './harness.mjs';

const out = join(ARTIFACTS, 'fixtures');
mkdirSync(out, { recursive: true });
const srv = await startFixtureServer();
const base = `http://127.0.0.1:${srv.address().port}`;
const browser = await launchChromium();
const errors = [];
let detailPath;
try {
  for (const [suffix, viewport] of [['', { width: 1280, height: 860 }], ['-phone', { width: 390, height: 844 }]]) {
    const ctx = await browser.newContext({ viewport, baseURL: base });
    const page = await ctx.newPage();
    // A signed-out page load asks /auth/session/refresh first and gets 401: expected.
    page.on('console', (m) => m.type() === 'error' && !/status of 401/.test(m.text()) && errors.push(m.text()));
    page.on('pageerror', (e) => errors.push(String(e)));
    await page.goto('/signin');
    await page.getByRole('tab', { name: 'Sign in' }).waitFor();
    await page.screenshot({ path: join(out, `sign-in${suffix}.png`) });
    await page.getByLabel('E-mail').fill('admin@example.com');
    await page.getByLabel('Password').fill('fixture-password');
    await page.getByRole('button', { name: 'Sign in', exact: true }).click();
    await page.waitForURL(/\/w\/ws_acme\/keys/);
    for (const [name, path] of [
      ['keys', '/w/ws_acme/keys'],
      // The phone layout hides the id column and its link: the desktop pass finds the path.
      ['key-detail', (detailPath ??= await page.getByRole('row', { name: /prod-payments-worker/ }).getByRole('link').first().getAttribute('href'))],
      ['all-keys', '/w/ws_acme/all-keys'],
      ['usage', '/w/ws_acme/usage'],
      ['logs', '/w/ws_acme/logs'],
      ['limits', '/w/ws_acme/limits'],
      ['billing', '/w/ws_acme/billing'],
      ['members', '/w/ws_acme/members'],
      ['audit', '/w/ws_acme/audit'],
      ['channels', '/w/ws_acme/channels'],
      ['security', '/w/ws_acme/security'],
      ['groups', '/w/ws_acme/groups'],
      ['gateways', '/w/ws_acme/gateways'],
    ]) {
      await page.goto(path);
      await page.getByRole('heading', { level: 1 }).first().waitFor();
      await page.waitForTimeout(600);
      await page.screenshot({ path: join(out, `${name}${suffix}.png`), fullPage: true });
    }
    await page.goto('/w/ws_acme/keys');
    await page.getByRole('button', { name: '+ Generate key' }).click();
    await page.getByLabel('Label').fill('prod-payments-worker');
    await page.getByLabel('Allowed models').fill('gpt-4o-mini,');
    await page.screenshot({ path: join(out, `create-key-form${suffix}.png`) });
    await page.getByRole('button', { name: 'Generate key' }).click();
    await page.getByRole('textbox', { name: 'Your new API key' }).waitFor();
    await page.screenshot({ path: join(out, `create-key-secret${suffix}.png`) });
    await page.getByRole('button', { name: /I've stored it/ }).click();
    await page.getByRole('button', { name: 'Actions for staging-pipeline' }).click();
    await page.screenshot({ path: join(out, `row-menu${suffix}.png`) });
    await page.keyboard.press('Escape');
    await page.getByRole('button', { name: 'Revoke all keys' }).click();
    await page.screenshot({ path: join(out, `revoke-all${suffix}.png`) });
    await ctx.close();
  }
} finally {
  await browser.close();
  srv.close();
}
if (errors.length) {
  console.error('browser errors:\n' + errors.join('\n'));
  process.exitCode = 1;
}
console.log(`screenshots in ${out}`);
