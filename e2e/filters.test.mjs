// Several filters, chart intervals and the realtime view, as staff use
// them: the real `sezim serve` on the embedded engine, visits through the
// real collector, then Chromium: add two filters (one with the "add filter"
// control, one by clicking a row), remove one chip, pick an interval, open
// the realtime view and watch it count a new visitor by itself.
//
// Needs the Go toolchain (or SEZIM_BIN) and libchdb (CHDB_LIB_PATH, default
// .cache/chdb/libchdb.so). Without the library the test skips, unless
// CI=true, where it fails. Screenshots go to test-artifacts/.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, artifactsDir } from './lib.mjs';
import { buildSezim, chdbLib, freePort, runSezimOK, signIn, startServe, waitFor } from './sezim-bin.mjs';

const PASSWORD = 'a long and lovely passphrase';

// Visitor i views "/" and, unless i % 3 == 2, "/pricing"; its referrer
// repeats every six visitors: two from a search engine, one social, two
// direct, one referral. So under page==/pricing the channels are the
// search and direct visitors, 10 each, and nobody social or referral.
function visitor(i) {
  const refs = ['https://www.google.com/', 'https://www.google.com/', 'https://vk.com/', '', '', 'https://news.example.org/'];
  const pages = ['/'];
  if (i % 3 !== 2) pages.push('/pricing');
  return { ua: `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`, ref: refs[i % refs.length], pages };
}

test('dashboards: two filters as chips, remove one, chart interval, realtime view', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-filters-e2e-'));
  const cleanups = [() => rm(tmp, { recursive: true, force: true })];
  let sezim;
  try {
    const bin = await buildSezim(tmp);
    const config = path.join(tmp, 'sites.yaml');
    await writeFile(config, 'trusted_proxies: []\nsites:\n  - id: shop\n    domains: [shop.test]\n    timezone: UTC\n    disclosure: exact\n');
    const env = { ...process.env, CHDB_LIB_PATH: lib, SEZIM_STORE: `chdb://${path.join(tmp, 'chdb')}`, SEZIM_CONFIG: config };
    await runSezimOK(bin, ['migrate', 'up'], { env });
    await runSezimOK(bin, ['user', 'add', '--role', 'admin', 'admin'], { env, stdin: `${PASSWORD}\n` });
    const token = (await runSezimOK(bin, ['user', 'token', 'add', '--label', 'e2e', 'admin'], { env })).trim();
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const dash = `http://127.0.0.1:${apiPort}`;
    sezim = await startServe(bin, ['--data', path.join(tmp, 'data'), '--addr', `127.0.0.1:${pubPort}`,
      '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`, '--insecure-cookie',
      '--rollup-interval', '1s', '--flush-interval', '200ms'], { adminOrigin: `http://127.0.0.1:${adminPort}`, env });

    const visit = async (i) => {
      const v = visitor(i);
      let ref = v.ref;
      for (const p of v.pages) {
        const q = new URLSearchParams({ s: 'shop', u: `https://shop.test${p}`, r: ref, w: '1280' });
        const res = await fetch(`http://127.0.0.1:${pubPort}/p.gif?${q}`, { headers: { 'User-Agent': v.ua, Accept: 'image/*', 'Accept-Language': 'ru-RU' } });
        assert.equal(res.status, 200, `pixel: ${res.headers.get('x-sezim-reason')}`);
        await res.arrayBuffer();
        ref = `https://shop.test${p}`;
      }
      return v.pages.length;
    };
    let sent = 0;
    for (let i = 0; i < 30; i++) sent += await visit(i);
    const api = async (p) => {
      const res = await fetch(`${dash}${p}`, { headers: { Authorization: `Bearer ${token}` } });
      return { status: res.status, body: await res.json().catch(() => null) };
    };
    let agg;
    await waitFor(async () => {
      agg = await api('/api/v1/stats/aggregate?site=shop&period=today');
      return agg.status === 200 && agg.body.results.pageviews === sent;
    }, { timeout: 30_000, interval: 500, describe: () => JSON.stringify(agg) });

    const browser = await chromium.launch({ executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 1000 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    await signIn(page, dash, 'admin', PASSWORD);
    await page.goto(`${dash}/app/?site=shop&period=today`);
    const loaded = () => page.waitForFunction(() => document.body.dataset.loaded && document.querySelector('#metric-visitors'));
    await loaded();
    const filtersInURL = () => page.evaluate(() => new URLSearchParams(location.search).getAll('filter'));
    const chips = () => page.$$eval('#filter-text .chip', (cs) => cs.map((c) => c.textContent));

    // 1. A filter from the "add filter" control: page is /pricing.
    await page.selectOption('#add-dim', 'page');
    await page.selectOption('#add-op', '==');
    await page.fill('#add-value', '/pricing');
    await page.click('#add-filter-btn');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('filter').join() === 'page==/pricing');
    await page.waitForFunction(() => document.querySelector('#metric-visitors').textContent === '20');

    // 2. A second one by clicking the first channel under it (search or
    // direct: 10 visitors each); the totals are the pair cell of both.
    await page.waitForSelector('[data-panel="Sources"][data-filtered="page==/pricing"] table[data-dim="channel"] tr.row');
    const rows = await page.$$eval('[data-panel="Sources"] tr.row', (rs) => rs.map((r) => [r.dataset.value, r.children[1].textContent]));
    assert.equal(rows.length, 2, JSON.stringify(rows));
    assert.deepEqual(rows.map((r) => r[1]), ['10', '10']);
    const channel = rows[0][0];
    await page.click(`[data-panel="Sources"] tr.row[data-value="${channel}"]`);
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('filter').length === 2);
    assert.deepEqual(await filtersInURL(), ['page==/pricing', `channel==${channel}`]);
    assert.deepEqual(await chips(), ['page = /pricing', `channel = ${channel}`]);
    await page.waitForFunction(() => document.querySelector('#metric-visitors').textContent === '10', null, { timeout: 10_000 }).catch(async (e) => {
      const both = await api(`/api/v1/stats/aggregate?site=shop&period=today&filter=${encodeURIComponent('page==/pricing')}&filter=${encodeURIComponent(`channel==${channel}`)}`);
      throw new Error(`${e.message}: shown ${await page.textContent('#metric-visitors')}, error ${await page.textContent('#error')}, api ${JSON.stringify(both)}`);
    });
    const both = await api(`/api/v1/stats/aggregate?site=shop&period=today&filter=${encodeURIComponent('page==/pricing')}&filter=${encodeURIComponent(`channel==${channel}`)}`);
    assert.equal(both.body.results.visitors, 10, JSON.stringify(both.body));
    await mkdir(artifactsDir, { recursive: true });
    await page.screenshot({ path: path.join(artifactsDir, 'dashboard-two-filters.png') });

    // 3. Remove the page chip: only the channel is left (its 10 visitors).
    await page.click('#filter-text .chip[data-filter="page==/pricing"] button');
    await page.waitForFunction(() => new URLSearchParams(location.search).getAll('filter').length === 1);
    assert.deepEqual(await chips(), [`channel = ${channel}`]);
    await page.waitForFunction(() => document.querySelector('#metric-visitors').textContent === '10');
    // A combination the aggregates cannot answer says why, on the page.
    await page.selectOption('#add-dim', 'page');
    await page.selectOption('#add-op', '~=');
    await page.fill('#add-value', 'pri');
    await page.click('#add-filter-btn');
    await page.waitForSelector('#error:not([hidden])');
    assert.match(await page.textContent('#error'), /filter not available/);
    await page.click('#clear-filter');
    await page.waitForSelector('#filterbar[hidden]', { state: 'attached' });

    // 4. The interval: hours are allowed for 7 days, weeks are not; 30
    // days allow weeks and not hours.
    await page.selectOption('#period', '7d');
    await loaded();
    assert.deepEqual(await page.$$eval('#interval option', (os) => os.filter((o) => o.disabled).map((o) => o.value)), ['week', 'month']);
    await page.selectOption('#interval', 'hour');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('interval') === 'hour');
    await page.waitForFunction(() => document.querySelectorAll('#chart rect.hit').length === 7 * 24);
    await page.selectOption('#period', '30d');
    await page.waitForFunction(() => !new URLSearchParams(location.search).has('interval'));
    assert.deepEqual(await page.$$eval('#interval option', (os) => os.filter((o) => o.disabled).map((o) => o.value)), ['hour']);
    await page.selectOption('#interval', 'week');
    const weeks = (await api('/api/v1/stats/timeseries?site=shop&period=30d&interval=week')).body.results;
    assert.ok(weeks.length >= 5 && weeks.length <= 6, JSON.stringify(weeks));
    assert.equal(weeks.at(-1).visitors, 30);
    await page.waitForFunction((n) => document.querySelectorAll('#chart rect.hit').length === n, weeks.length);

    // 5. The realtime view: 30 visitors now, "/" on top; it refreshes by
    // itself and counts a new visitor.
    await page.click('#realtime-toggle');
    await page.waitForSelector('#live:not([hidden])');
    await page.waitForFunction(() => document.querySelector('#live-visitors').textContent === '30');
    assert.equal(await page.$$eval('#live-chart rect', (rs) => rs.length), 30);
    const top = await page.$$eval('#live-pages tr.live-row', (rs) => rs.map((r) => [r.dataset.value, r.children[1].textContent]));
    assert.deepEqual(top, [['/', '30'], ['/pricing', '20']]);
    await page.screenshot({ path: path.join(artifactsDir, 'dashboard-realtime.png') });
    await visit(30);
    await page.waitForFunction(() => document.querySelector('#live-visitors').textContent === '31', null, { timeout: 30_000 });
    await page.click('#realtime-toggle');
    await page.waitForSelector('#live', { state: 'hidden' });

    assert.deepEqual(errors, [], 'the dashboard threw');
    await context.close();
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
