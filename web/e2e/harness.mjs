// Process and browser plumbing for the end-to-end suite: free ports, the
// real oais binaries, and Debian's Chromium driven by playwright-core.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream, existsSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const here = dirname(fileURLToPath(import.meta.url));

/** ARTIFACTS is where screenshots, downloads and process logs go (git-ignored). */
export const ARTIFACTS = join(here, 'artifacts');
/** DOCS_SCREENSHOTS receives copies of the main screenshots for the README. */
export const DOCS_SCREENSHOTS = resolve(here, '../../docs/screenshots');
/** BIN_DIR holds controlplane and gateway, built by `make build`. */
export const BIN_DIR = resolve(here, '..', process.env.OAIS_BIN_DIR ?? '../bin');

/** freePort asks the kernel for an unused loopback port. */
export function freePort() {
  return new Promise((ok, fail) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => ok(port));
    });
  });
}

/** randomPassword returns n URL-safe random characters. */
export function randomPassword(n = 20) {
  return randomBytes(n * 2).toString('base64url').slice(0, n);
}

const children = new Set();

/**
 * startBinary runs one oais binary with env, logging to artifacts/<name>.log.
 * It fails fast if the process exits before stopAll.
 */
export function startBinary(name, args, env) {
  const bin = join(BIN_DIR, name);
  if (!existsSync(bin)) throw new Error(`${bin} not found: run \`make build\` first (or set OAIS_BIN_DIR)`);
  mkdirSync(ARTIFACTS, { recursive: true });
  const log = createWriteStream(join(ARTIFACTS, `${name}.log`));
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.pipe(log);
  child.stderr.pipe(log);
  // The output so far, for tests that read it (the control plane logs mail
  // it cannot send, links included, when OAIS_SMTP_URL is unset).
  child.output = '';
  for (const stream of [child.stdout, child.stderr]) stream.on('data', (b) => (child.output += b.toString()));
  child.exited = new Promise((ok) => child.on('exit', (code, signal) => ok({ code, signal })));
  children.add(child);
  child.exited.then(() => children.delete(child));
  return child;
}

/** waitForHTTP polls url until it answers 2xx, or throws after timeoutMs (or when proc dies). */
export async function waitForHTTP(url, { timeoutMs = 30_000, proc } = {}) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (proc && proc.exitCode !== null) throw new Error(`${url}: process exited with ${proc.exitCode} (see e2e/artifacts/*.log)`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) });
      if (res.ok) return;
      last = `HTTP ${res.status}`;
    } catch (err) {
      last = String(err?.cause?.code ?? err);
    }
    await sleep(200);
  }
  throw new Error(`${url} not ready after ${timeoutMs} ms (${last})`);
}

/** stopAll sends SIGTERM to every child, then SIGKILL to any still running after 5 s. */
export async function stopAll() {
  const list = [...children];
  for (const c of list) c.kill('SIGTERM');
  await Promise.race([Promise.all(list.map((c) => c.exited)), sleep(5000)]);
  for (const c of children) c.kill('SIGKILL');
}

// Never leave servers behind, even when the runner is interrupted.
for (const sig of ['SIGINT', 'SIGTERM']) {
  process.once(sig, () => {
    for (const c of children) c.kill('SIGKILL');
    process.exit(130);
  });
}
process.once('exit', () => {
  for (const c of children) c.kill('SIGKILL');
});

/** launchChromium starts Debian's Chromium; playwright's own browser download is not used. */
export function launchChromium() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH || '/usr/bin/chromium',
    args: ['--headless=new', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/**
 * mailedLink waits until proc's log holds a message to `to` with a link to
 * the page path (the log is where mail goes without OAIS_SMTP_URL) and
 * returns the newest such link.
 */
export async function mailedLink(proc, to, path, { timeoutMs = 20_000 } = {}) {
  return eventually(
    () => {
      let found;
      for (const line of proc.output.split('\n')) {
        let rec;
        try {
          rec = JSON.parse(line);
        } catch {
          continue;
        }
        const m = rec.to === to && typeof rec.text === 'string' && rec.text.match(new RegExp(`https?://\\S+${path}\\?token=[\\w-]+`));
        if (m) found = m[0];
      }
      if (!found) throw new Error(`no mail to ${to} with a link to ${path} in the log yet`);
      return found;
    },
    { timeoutMs, intervalMs: 200 },
  );
}

/** sleep resolves after ms. */
export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

/** eventually retries fn until it stops throwing, or rethrows its last error after timeoutMs. */
export async function eventually(fn, { timeoutMs = 20_000, intervalMs = 500 } = {}) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() > deadline) throw err;
      await sleep(intervalMs);
    }
  }
}
