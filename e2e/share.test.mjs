// Shared links as people use them: the real `sezim serve` binary on the
// embedded engine, visits through the real collector, then Chromium: the
// admin makes a link with a password in the dashboard's "Shared links"
// panel; someone without an account opens it, gives the password, and sees
// the site's numbers; the admin revokes it, and the open page is refused
// (410) on its next load.
//
// Needs the Go toolchain (or SEZIM_BIN) and libchdb (CHDB_LIB_PATH, default
// .cache/chdb/libchdb.so). Without the library the test skips, unless
// CI=true, where it fails. Screenshots go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { access, mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, repoRoot, artifactsDir } from './lib.mjs';
import { buildSezim, freePort, runSezimOK, startServe, waitFor } from './sezim-bin.mjs';

const PASSWORD = 'a long and lovely passphrase';
const SHARE_PASSWORD = 'the board may look';

test('shared links: made in the panel, opened with a password without an account, refused once revoked', { timeout: 300_000 }, async (t) => {
  const lib = process.env.CHDB_LIB_PATH || path.join(repoRoot, '.cache', 'chdb', 'libchdb.so');
  try {
    await access(lib);
  } catch {
    const msg = `libchdb not found at ${lib}: run \`make chdb\` or set CHDB_LIB_PATH`;
    if (process.env.CI === 'true') throw new Error(msg);
    t.skip(msg);
    return;
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-share-e2e-'));
  const cleanups = [() => rm(tmp, { recursive: true, force: true })];
  let sezim;
  try {
    const bin = await buildSezim(tmp);
    const config = path.join(tmp, 'sites.yaml');
    await writeFile(config, `trusted_proxies: []
sites:
  - id: shop
    domains: [shop.test]
    timezone: UTC
    disclosure: exact
  - id: blog
    domains: [blog.test]
    timezone: UTC
    disclosure: exact
`);
    const env = { ...process.env, CHDB_LIB_PATH: lib, SEZIM_STORE: `chdb://${path.join(tmp, 'chdb')}`, SEZIM_CONFIG: config };
    await runSezimOK(bin, ['migrate', 'up'], { env });
    await runSezimOK(bin, ['user', 'add', '--role', 'admin', 'admin'], { env, stdin: `${PASSWORD}\n` });
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const dash = `http://127.0.0.1:${apiPort}`;
    sezim = await startServe(bin, ['--data', path.join(tmp, 'data'), '--addr', `127.0.0.1:${pubPort}`,
      '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`, '--insecure-cookie',
      '--rollup-interval', '1s', '--flush-interval', '200ms'], { adminOrigin: `http://127.0.0.1:${adminPort}`, env });

    // Twelve visitors of the shop, each with a user agent of its own.
    for (let i = 0; i < 12; i++) {
      const q = new URLSearchParams({ s: 'shop', u: 'https://shop.test/', w: '1280' });
      const res = await fetch(`http://127.0.0.1:${pubPort}/p.gif?${q}`, {
        headers: { 'User-Agent': `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`, Accept: 'image/*' },
      });
      assert.equal(res.status, 200);
      await res.arrayBuffer();
    }

    const browser = await chromium.launch({ executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const newPage = async () => {
      const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
      return { context, page };
    };

    // The admin signs in, waits for the rollup, and makes a link to the
    // shop with a password in the panel.
    const a = await newPage();
    await a.page.goto(`${dash}/app/login`);
    await a.page.fill('#user', 'admin');
    await a.page.fill('#password', PASSWORD);
    await Promise.all([a.page.waitForURL(/\/app\/\?/), a.page.click('button[type=submit]')]);
    await a.page.selectOption('#site', 'shop');
    await waitFor(async () => {
      await a.page.reload();
      await a.page.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#metric-visitors'));
      return (await a.page.textContent('#metric-visitors')) === '12';
    }, { timeout: 30_000, interval: 1000, describe: async () => `visitors ${await a.page.textContent('#metric-visitors')}` });
    await a.page.click('#shares summary');
    await a.page.fill('#share-label', 'for the board');
    await a.page.fill('#share-password', SHARE_PASSWORD);
    await a.page.click('#share-create');
    const href = await (await a.page.waitForSelector('#share-url')).getAttribute('href');
    assert.match(href, /^\/share\/sezim_share_[A-Za-z0-9_-]{43}$/);
    await a.page.waitForSelector('#share-list li.live');
    assert.match(await a.page.textContent('#share-list'), /for the board.*with password/);

    // Someone without an account: the password form, a wrong password,
    // the right one, then the shop's numbers.
    const g = await newPage();
    await g.page.goto(`${dash}${href}`);
    await g.page.fill('#password', 'not the password');
    await g.page.click('button[type=submit]');
    await g.page.waitForSelector('#share-error');
    assert.match(await g.page.textContent('#share-error'), /Wrong password/);
    await g.page.fill('#password', SHARE_PASSWORD);
    await Promise.all([g.page.waitForNavigation(), g.page.click('button[type=submit]')]);
    await g.page.waitForFunction(() => document.body.dataset.loaded);
    assert.equal(await g.page.textContent('#share-site'), 'shop');
    assert.equal(await g.page.textContent('#metric-visitors'), '12');
    assert.equal(await g.page.textContent('#metric-pageviews'), '12');
    await g.page.waitForSelector('[data-panel="Pages"] td');
    await mkdir(artifactsDir, { recursive: true });
    await g.page.screenshot({ path: path.join(artifactsDir, 'share.png'), fullPage: true });
    // The link reaches nothing else: not the blog, not the staff API.
    const other = await g.page.evaluate(async (base) => ({
      blog: (await fetch(`${base}/api/v1/stats/aggregate?site=blog&period=today`)).status,
      me: (await fetch('/api/v1/me')).status,
      app: (await fetch('/app/', { redirect: 'manual' })).type,
    }), new URL(g.page.url()).pathname);
    assert.deepEqual(other, { blog: 404, me: 401, app: 'opaqueredirect' });

    // The admin revokes it; the open page is refused on its next load.
    await a.page.click('#share-list li.live .share-revoke');
    await a.page.waitForSelector('#share-list li.revoked');
    const res = await g.page.reload();
    assert.equal(res.status(), 410);
    assert.match(await g.page.textContent('#share-error'), /revoked/);
    const api = await g.page.evaluate(async (p) => (await fetch(`${p}/api/v1/stats/aggregate?site=shop`)).status, href);
    assert.equal(api, 410);

    assert.deepEqual(errors, [], 'a page threw');
    const st = await sezim.stop();
    assert.equal(st.code, 0, 'clean shutdown');
  } catch (err) {
    if (sezim) {
      await sezim.stop();
      console.error(`--- sezim serve stderr ---\n${sezim.out.stderr}\n--- end ---`);
    }
    throw err;
  } finally {
    if (sezim) await sezim.stop();
    for (const c of cleanups) {
      try { await c(); } catch { /* best effort */ }
    }
  }
});
