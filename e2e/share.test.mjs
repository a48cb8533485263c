// Shared links as people use them: the real `sezim serve` binary on the
// embedded engine, visits and events through the real collector, then
// Chromium: the admin makes a link with a password in the dashboard's
// "Shared links" panel; someone without an account opens it, gives the
// password, and uses the site's dashboard itself, read only: the chart and
// its interval, the period picker, a filter by clicking a row, the funnel,
// the goals, realtime, a CSV download; with no site picker, no links panel,
// no sign-out and no goal editing. The admin revokes it: the open page
// turns into the revoked page at its next call, and page and API answer 410.
//
// Needs the Go toolchain (or SEZIM_BIN) and libchdb (CHDB_LIB_PATH, default
// .cache/chdb/libchdb.so). Without the library the test skips, unless
// CI=true, where it fails. Screenshots go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir, readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, artifactsDir } from './lib.mjs';
import { buildSezim, chdbLib, freePort, runSezimOK, signIn, startServe, waitFor } from './sezim-bin.mjs';

const PASSWORD = 'a long and lovely passphrase';
const SHARE_PASSWORD = 'the board may look';

test('shared links: made in the panel, opened with a password without an account as the read-only dashboard, refused once revoked', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
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
    goals:
      - {name: Signup, event: signup}
    funnels:
      - name: Pricing
        steps: [{page: /}, {page: /pricing}, {event: signup}]
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

    // Twenty visitors of the shop, each with a user agent of its own (they
    // all come from 127.0.0.1): all see /, twelve then /pricing, six of
    // those sign up (every drop-off of the funnel is k or more, so none is
    // hidden).
    const beacon = async (ua, body) => {
      const res = await fetch(`http://127.0.0.1:${pubPort}/e`, {
        method: 'POST', body: JSON.stringify({ s: 'shop', w: 1280, ...body }),
        headers: { 'User-Agent': ua, Accept: '*/*', 'Content-Type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(res.status, 202, await res.text());
    };
    for (let i = 0; i < 20; i++) {
      const ua = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`;
      await beacon(ua, { u: 'https://shop.test/' });
      if (i < 12) await beacon(ua, { u: 'https://shop.test/pricing' });
      if (i < 6) await beacon(ua, { u: 'https://shop.test/pricing', n: 'signup' });
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
    await signIn(a.page, dash, 'admin', PASSWORD);
    await a.page.selectOption('#site', 'shop');
    await waitFor(async () => {
      await a.page.reload();
      await a.page.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#metric-visitors'));
      return (await a.page.textContent('#metric-visitors')) === '20';
    }, { timeout: 30_000, interval: 1000, describe: async () => `visitors ${await a.page.textContent('#metric-visitors')}` });
    // The funnel and the goal are counted by the rollup too.
    let ready;
    await waitFor(async () => {
      ready = await a.page.evaluate(async () => {
        const f = await (await fetch('/api/v1/stats/funnel?site=shop&period=today&funnel=Pricing')).json();
        const g = await (await fetch('/api/v1/stats/aggregate?site=shop&period=today&goal=Signup')).json();
        return { steps: (f.steps || []).map((s) => s.visits), conversions: g.results && g.results.conversions };
      });
      return ready.steps.join() === '20,12,6' && ready.conversions === 6;
    }, { timeout: 30_000, interval: 500, describe: async () => JSON.stringify(ready) });
    await a.page.click('#shares summary');
    await a.page.fill('#share-label', 'for the board');
    await a.page.fill('#share-password', SHARE_PASSWORD);
    await a.page.click('#share-create');
    const href = await (await a.page.waitForSelector('#share-url')).getAttribute('href');
    assert.match(href, /^\/share\/sezim_share_[A-Za-z0-9_-]{43}$/);
    await a.page.waitForSelector('#share-list li.live');
    assert.match(await a.page.textContent('#share-list'), /for the board.*with password/);

    // Someone without an account: the password form, a wrong password,
    // the right one, then the shop's dashboard.
    const g = await newPage();
    const p = g.page;
    await p.goto(`${dash}${href}`);
    await p.fill('#password', 'not the password');
    await p.click('button[type=submit]');
    await p.waitForSelector('#share-error');
    assert.match(await p.textContent('#share-error'), /Wrong password/);
    await p.fill('#password', SHARE_PASSWORD);
    await Promise.all([p.waitForNavigation(), p.click('button[type=submit]')]);
    await p.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#chart svg path.line'));
    assert.equal(await p.textContent('#share-site'), 'shop');
    assert.equal(await p.textContent('#metric-visitors'), '20');
    assert.equal(await p.textContent('#metric-pageviews'), '32');
    assert.equal(new URL(p.url()).pathname, href, 'the page keeps its own path');
    // Every panel and tab of the staff's page, read only: no site picker,
    // no links panel, no sign-out, no staff link, no goal editing.
    await p.waitForSelector('#goals-table tr[data-goal="Signup"]');
    assert.deepEqual(await p.$$eval('.panel[data-panel]', (ps) => ps.map((x) => x.dataset.panel)), ['Pages', 'Sources', 'Locations', 'Devices', 'Custom events']);
    assert.deepEqual(await p.$$eval('#site, #shares, .signout, #signout, #privacy-link, #goal-form, .goal-del, a[href^="/app"]', (es) => es.length), 0);
    assert.equal(await p.getAttribute('.brand', 'href'), null);

    // The period picker and the chart's interval.
    await p.selectOption('#period', 'today');
    await p.waitForFunction(() => new URLSearchParams(location.search).get('period') === 'today');
    await p.waitForFunction(() => /^\d{4}-\d\d-\d\d$/.test(document.querySelector('#range').textContent));
    await p.waitForFunction(() => document.querySelector('#metric-visitors')?.textContent === '20');
    await p.selectOption('#interval', 'hour');
    await p.waitForFunction(() => [...document.querySelectorAll('#chart svg text.axis')].some((t) => /^\d\d:00$/.test(t.textContent)));
    assert.equal(new URL(p.url()).pathname, href);

    // A filter by clicking a row: a chip, and the page's own numbers.
    await p.click('[data-panel="Pages"] tr.row[data-value="/pricing"]');
    await p.waitForSelector('#filter-text .chip[data-filter="page==/pricing"]');
    await p.waitForFunction(() => document.querySelector('#metric-visitors')?.textContent === '12');
    await p.waitForSelector('[data-panel="Pages"][data-filtered="page==/pricing"] tr.row');

    // The funnel: visits reaching each step.
    await p.waitForSelector('#funnels[data-funnel="Pricing"] li.step[data-step="3"]');
    assert.deepEqual(await p.$$eval('#funnels li.step', (ls) => ls.map((l) => l.querySelector('.visits')?.textContent)), ['20', '12', '6']);

    // A goal: its conversions and rate in the cards. The goals panel is
    // over all visits (30 %); the cards keep the page filter, so the rate is
    // over the 12 visitors who viewed /pricing, all six signups among them.
    assert.deepEqual(await p.$eval('#goals-table tr[data-goal="Signup"]', (tr) => [...tr.children].map((td) => td.textContent)), ['Signup', '6', '30%']);
    await p.click('#goals-table tr[data-goal="Signup"]');
    await p.waitForFunction(() => document.querySelector('#metric-conversions')?.textContent === '6');
    assert.equal(await p.textContent('#metric-conversion_rate'), '50%');
    assert.ok(await p.$('#filter-text .chip[data-filter="page==/pricing"]'), 'the filter stays beside the goal');

    // Realtime: the last 30 minutes.
    await p.click('#realtime-toggle');
    await p.waitForSelector('#live[data-loaded]');
    assert.equal(await p.textContent('#live-visitors'), '20');

    // A CSV of a breakdown, through the link's own API, under the page
    // filter and the goal the page shows.
    const [download] = await Promise.all([p.waitForEvent('download'), p.click('[data-panel="Pages"] a.csv')]);
    assert.match(download.suggestedFilename(), /^sezim-shop-page-.*\.csv$/);
    assert.ok(download.url().startsWith(`${dash}${href}/api/v1/stats/breakdown?`), download.url());
    const csv = await readFile(await download.path(), 'utf8');
    assert.match(csv, /^page,visitors,.*,conversions,conversion_rate$/m);
    assert.match(csv, /^\/pricing,12,12,12,0,1,0,0,6,50$/m);
    assert.doesNotMatch(csv, /^\/,/m);
    await mkdir(artifactsDir, { recursive: true });
    await p.screenshot({ path: path.join(artifactsDir, 'share.png'), fullPage: true });

    // The link reaches nothing else: not the blog, not the staff API,
    // and it writes nothing.
    const other = await p.evaluate(async (base) => ({
      blog: (await fetch(`${base}/api/v1/stats/aggregate?site=blog&period=today`)).status,
      me: (await fetch('/api/v1/me')).status,
      app: (await fetch('/app/', { redirect: 'manual' })).type,
      goal: (await fetch(`${base}/api/v1/stats/goals`, { method: 'PUT', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ site: 'shop', name: 'X', event: 'x' }) })).status,
    }), href);
    assert.deepEqual(other, { blog: 404, me: 401, app: 'opaqueredirect', goal: 405 });

    // The admin revokes it: the open page's next call meets 410 and the
    // page turns into the revoked page; page and API answer 410.
    await a.page.click('#share-list li.live .share-revoke');
    await a.page.waitForSelector('#share-list li.revoked');
    // Its next call: a period change, unless the open realtime view's
    // refresh came first and the page is already reloading.
    await p.evaluate(() => {
      const sel = document.querySelector('#period');
      if (sel) { sel.value = '7d'; sel.dispatchEvent(new Event('change')); }
    }).catch(() => { /* the reload destroyed the page's context */ });
    await p.waitForSelector('#share-error');
    assert.match(await p.textContent('#share-error'), /revoked/);
    const res = await p.reload();
    assert.equal(res.status(), 410);
    const api = await p.evaluate(async (h) => (await fetch(`${h}/api/v1/stats/aggregate?site=shop`)).status, href);
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
