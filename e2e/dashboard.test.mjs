// The dashboards as staff use them: the real `sezim serve` binary on the
// embedded engine, accounts made with `sezim user`, visits sent through the
// real collector, then Chromium: sign in, open a site, change the period,
// filter by a page, export CSV, sign out; and a viewer of one site who
// cannot see another, in the page and in the API.
//
// Needs the Go toolchain (or SEZIM_BIN) and libchdb (CHDB_LIB_PATH, default
// .cache/chdb/libchdb.so). Without the library the test skips, unless
// CI=true, where it fails. Screenshots go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, readFile, copyFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, repoRoot, artifactsDir } from './lib.mjs';
import { buildSezim, chdbLib, freePort, runSezimOK, startServe, waitFor } from './sezim-bin.mjs';

const PASSWORD = 'a long and lovely passphrase';
// Thirty visitors of the shop: each needs a user agent of its own (they all
// come from 127.0.0.1). Pages, sources and languages are spread so that
// some rows reach k = 5 and some do not.
function visitors() {
  const refs = ['https://www.google.com/', 'https://www.google.com/', 'https://vk.com/', '', '', 'https://news.example.org/'];
  const langs = ['ru-RU,ru;q=0.9', 'ru-RU,ru;q=0.9', 'kk-KZ,kk;q=0.9', 'en-US,en;q=0.9'];
  const out = [];
  for (let i = 0; i < 30; i++) {
    const ua = i % 5 === 4
      ? `Mozilla/5.0 (X11; Linux x86_64; rv:${120 + i}.0) Gecko/20100101 Firefox/${120 + i}.0`
      : `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`;
    const pages = ['/'];
    if (i % 3 !== 2) pages.push('/pricing');
    if (i % 10 === 0) pages.push('/about');
    if (i === 7) pages.push('/careers');
    out.push({ ua, ref: refs[i % refs.length], lang: langs[i % langs.length], pages, signup: i % 6 === 0 });
  }
  return out;
}

test('dashboards: sign in, period, filter, CSV, sign out; a viewer sees only its site', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-dash-e2e-'));
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
    // Accounts first: the embedded store is one process's at a time.
    await runSezimOK(bin, ['migrate', 'up'], { env });
    await runSezimOK(bin, ['user', 'add', '--role', 'admin', 'admin'], { env, stdin: `${PASSWORD}\n` });
    await runSezimOK(bin, ['user', 'add', '--role', 'viewer', '--sites', 'blog', 'bob'], { env, stdin: `${PASSWORD}\n` });
    const token = (await runSezimOK(bin, ['user', 'token', 'add', '--label', 'e2e', 'admin'], { env })).trim();
    assert.match(token, /^sezim_[A-Za-z0-9_-]{43}$/);
    const listed = await runSezimOK(bin, ['user', 'list'], { env });
    assert.match(listed, /bob\s+viewer\s+blog\s+active/);

    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const dash = `http://127.0.0.1:${apiPort}`;
    sezim = await startServe(bin, ['--data', path.join(tmp, 'data'), '--addr', `127.0.0.1:${pubPort}`,
      '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`, '--insecure-cookie',
      '--rollup-interval', '1s', '--flush-interval', '200ms'], { adminOrigin: `http://127.0.0.1:${adminPort}`, env });

    // The visits, through the collector's pixel.
    let sent = 0;
    for (const v of visitors()) {
      let ref = v.ref;
      for (const p of v.pages) {
        const q = new URLSearchParams({ s: 'shop', u: `https://shop.test${p}`, r: ref, w: '1280' });
        const res = await fetch(`http://127.0.0.1:${pubPort}/p.gif?${q}`, { headers: { 'User-Agent': v.ua, Accept: 'image/*', 'Accept-Language': v.lang } });
        assert.equal(res.status, 200, `pixel: ${res.headers.get('x-sezim-reason')}`);
        await res.arrayBuffer();
        ref = `https://shop.test${p}`;
        sent++;
      }
      if (v.signup) {
        const q = new URLSearchParams({ s: 'shop', u: 'https://shop.test/pricing', n: 'signup' });
        await (await fetch(`http://127.0.0.1:${pubPort}/p.gif?${q}`, { headers: { 'User-Agent': v.ua, Accept: 'image/*' } })).arrayBuffer();
      }
    }
    // The blog: one channel dominant, two tiny ones (the case of issue 12:
    // the dominant row must stay, rounded, beside the hidden remainder).
    const blogVisit = async (i, ref) => {
      const q = new URLSearchParams({ s: 'blog', u: 'https://blog.test/', r: ref, w: '1280' });
      const ua = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.${i}.0 Safari/537.36`;
      const res = await fetch(`http://127.0.0.1:${pubPort}/p.gif?${q}`, { headers: { 'User-Agent': ua, Accept: 'image/*' } });
      assert.equal(res.status, 200, `blog pixel: ${res.headers.get('x-sezim-reason')}`);
      await res.arrayBuffer();
    };
    await blogVisit(9000, 'https://vk.com/');
    await blogVisit(9001, 'https://vk.com/');
    await blogVisit(9002, 'https://www.google.com/');
    for (let i = 0; i < 500; i++) await blogVisit(i, '');
    // The API with the admin's token, once the rollup has everything.
    const api = async (p, headers = { Authorization: `Bearer ${token}` }) => {
      const res = await fetch(`${dash}${p}`, { headers });
      return { status: res.status, body: await res.json().catch(() => null) };
    };
    let agg;
    await waitFor(async () => {
      agg = await api('/api/v1/stats/aggregate?site=shop&period=today');
      return agg.status === 200 && agg.body.results.pageviews === sent;
    }, { timeout: 30_000, interval: 500, describe: () => JSON.stringify(agg) });
    assert.equal(agg.body.results.visitors, 30);
    assert.equal((await api('/api/v1/stats/aggregate?site=shop&period=today')).status, 200);
    assert.equal((await api('/api/v1/stats/aggregate?site=shop', {})).status, 401, 'no credentials');
    assert.equal((await api('/api/v1/stats/aggregate?site=shop', { Authorization: 'Bearer sezim_forged' })).status, 401);
    const pages = (await api('/api/v1/stats/breakdown?site=shop&period=today&property=page')).body;
    // /about (3) and /careers (1) fold into "other" (4 < 5), so /pricing
    // (20) joins them: only "/" is shown.
    assert.deepEqual(pages.results.map((r) => [r.value, r.visitors]), [['/', 30]]);
    assert.equal(pages.other.visitors, 24);
    let channels;
    await waitFor(async () => {
      channels = await api('/api/v1/stats/breakdown?site=blog&period=today&property=channel');
      const r = channels.body && channels.body.results;
      return channels.status === 200 && r.length === 1 && r[0].value === 'direct' && r[0].rounded && r[0].visitors === 500;
    }, { timeout: 30_000, interval: 500, describe: () => JSON.stringify(channels) });
    assert.ok(channels.body.other.suppressed, 'the remainder of 3 stays hidden');
    const blogTop = (await api('/api/v1/stats/aggregate?site=blog&period=today')).body.results;
    assert.deepEqual([blogTop.visitors, blogTop.rounded], [500, true], 'the top line of 503 is rounded too');

    const browser = await chromium.launch({ executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const newPage = async (viewport = { width: 1280, height: 900 }) => {
      const context = await browser.newContext({ viewport, acceptDownloads: true });
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      // Refused requests (the wrong password, the other site) log a
      // "Failed to load resource" on purpose; anything else is a bug.
      page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
      return { context, page };
    };
    const signIn = async (page, user) => {
      await page.goto(`${dash}/app/`);
      assert.equal(new URL(page.url()).pathname, '/app/login', 'signed out, /app/ leads to the sign-in page');
      await page.fill('#user', user);
      await page.fill('#password', PASSWORD);
      await Promise.all([page.waitForURL(/\/app\/\?/), page.click('button[type=submit]')]);
    };
    const loaded = (page) => page.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#metric-visitors'));

    // 1. Sign in (a wrong password first), open the shop.
    const a = await newPage();
    await a.page.goto(`${dash}/app/login`);
    await a.page.fill('#user', 'admin');
    await a.page.fill('#password', 'not the password at all');
    await a.page.click('button[type=submit]');
    await a.page.waitForSelector('#login-error');
    await signIn(a.page, 'admin');
    await a.page.selectOption('#site', 'shop');
    await loaded(a.page);
    await a.page.waitForSelector('[data-panel="Pages"] tr.row');
    assert.equal(await a.page.textContent('#metric-visitors'), '30');
    assert.equal(await a.page.textContent('#metric-pageviews'), String(sent));
    await a.page.waitForFunction(() => document.querySelector('#realtime-n').textContent === '30');
    // How old the aggregates are, beside it (the rollup runs every second
    // here), and the same for the operator on /readyz.
    await a.page.waitForFunction(() => /^updated \d+ s ago$/.test(document.querySelector('#updated').textContent));
    const ready = await (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).json();
    assert.match(ready.rollup, /^lag \d+ s \(newest event included [-0-9T:Z]+\); last run \d+ s ago$/);
    const shot = path.join(artifactsDir, 'dashboard.png');
    await mkdir(artifactsDir, { recursive: true });
    await a.page.screenshot({ path: shot });
    await mkdir(path.join(repoRoot, 'docs'), { recursive: true });
    await copyFile(shot, path.join(repoRoot, 'docs', 'dashboard.png'));
    await a.page.screenshot({ path: path.join(artifactsDir, 'dashboard-full.png'), fullPage: true });

    // 2. Change the period, compare with the previous one.
    await a.page.selectOption('#period', '30d');
    await a.page.waitForFunction(() => new URLSearchParams(location.search).get('period') === '30d');
    await a.page.check('#compare');
    await a.page.waitForSelector('.metric .delta');
    assert.equal(await a.page.textContent('#metric-visitors'), '30');

    // 3. Filter by a page: the totals, the chart and the other panels.
    await a.page.click('[data-panel="Pages"] tr.row[data-value="/"]');
    await a.page.waitForFunction(() => new URLSearchParams(location.search).get('filter') === 'page==/');
    await a.page.waitForSelector('#filterbar:not([hidden])');
    await loaded(a.page);
    assert.equal(await a.page.textContent('#filter-text'), 'page = /');
    assert.equal(await a.page.textContent('#metric-visitors'), '30');
    // Every panel is cut by the filter (pair aggregates): the Locations
    // panel's languages are now those of the visits that include "/".
    await a.page.click('[data-panel="Locations"] button[data-dim="language"]');
    await a.page.waitForSelector('[data-panel="Locations"][data-filtered="page==/"] table[data-dim="language"] tr.row');
    const langs = await a.page.$$eval('[data-panel="Locations"] tr.row', (rs) => rs.map((r) => [r.dataset.value, r.children[1].textContent]));
    assert.equal(langs.length, 3, JSON.stringify(langs));
    assert.match(langs[0][0], /^ru/);
    assert.deepEqual(langs.map((l) => l[1]), ['16', '7', '7']);
    assert.equal(await a.page.$$eval('.panel .empty', (es) => es.filter((e) => /not available/i.test(e.textContent)).length), 0);
    await a.page.screenshot({ path: path.join(artifactsDir, 'dashboard-filtered.png') });
    await a.page.click('#clear-filter');
    await a.page.waitForSelector('#filterbar[hidden]', { state: 'attached' });

    // 4. Export the Pages panel as CSV.
    const [download] = await Promise.all([a.page.waitForEvent('download'), a.page.click('[data-panel="Pages"] a.csv')]);
    const csv = await readFile(await download.path(), 'utf8');
    assert.equal(csv.split('\n')[0], 'page,visitors,visits,pageviews,events,views_per_visit,bounce_rate,visit_duration');
    assert.match(csv, /^\/,30,30,30,/m);
    assert.match(csv, /^\(other\),24,/m);

    // 5. Sign out: the cookie no longer opens anything.
    const cookies = await a.context.cookies();
    const session = cookies.find((c) => c.name === 'sezim_session');
    assert.ok(session && session.httpOnly && session.sameSite === 'Strict', JSON.stringify(cookies));
    await Promise.all([a.page.waitForURL(/\/app\/login$/), a.page.click('#signout')]);
    const after = await fetch(`${dash}/api/v1/me`, { headers: { Cookie: `sezim_session=${session.value}` } });
    assert.equal(after.status, 401);
    await a.context.close();

    // 6. Bob sees the blog only: the site picker, a URL naming the shop,
    // and the API all keep the shop from him.
    const b = await newPage({ width: 390, height: 844 });
    await signIn(b.page, 'bob');
    await loaded(b.page);
    assert.deepEqual(await b.page.$$eval('#site option', (os) => os.map((o) => o.value)), ['blog']);
    await b.page.goto(`${dash}/app/?site=shop&period=today`);
    await loaded(b.page);
    assert.equal(await b.page.inputValue('#site'), 'blog');
    // The channels: direct shown rounded, the two tiny ones hidden.
    await b.page.waitForSelector('[data-panel="Sources"] table[data-dim="channel"] tr.row');
    const chans = await b.page.$$eval('[data-panel="Sources"] table[data-dim="channel"] tr', (rs) => rs.slice(1).map((r) => [r.className, r.children[0].textContent, r.children[1].textContent]));
    assert.deepEqual(chans, [['row', 'direct', '≈500'], ['other', '(other values)', '< 5']]);
    assert.equal(await b.page.textContent('#metric-visitors'), '≈500');
    await b.page.waitForFunction(() => document.querySelector('#realtime-n').textContent === '500');
    const status = await b.page.evaluate(async () => (await fetch('/api/v1/stats/aggregate?site=shop&period=today')).status);
    assert.equal(status, 404, 'a viewer of blog asking for the shop');
    const csvStatus = await b.page.evaluate(async () => (await fetch('/api/v1/stats/breakdown?site=shop&property=page&format=csv')).status);
    assert.equal(csvStatus, 404);
    await b.page.screenshot({ path: path.join(artifactsDir, 'dashboard-phone.png'), fullPage: true });
    await b.context.close();

    assert.deepEqual(errors, [], 'the dashboard threw');
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
