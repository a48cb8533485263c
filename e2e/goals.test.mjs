// Goals and event properties in the dashboard: the real `sezim serve` on the
// embedded engine, a site with goals and a property key in its file, visits
// and custom events with properties through the collector's beacon, then
// Chromium: the goals panel (conversions, conversion rate), choosing a goal
// (conversion cards, a CR column in every breakdown), an admin adding a
// goal in the page, the Properties panel, and a goal and a filter together.
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

test('dashboards: goals panel, conversions in breakdowns, a goal added in the page, properties', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-goals-e2e-'));
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
      - {name: Pricing, page: /pricing}
    properties: [plan]
`);
    const env = { ...process.env, CHDB_LIB_PATH: lib, SEZIM_STORE: `chdb://${path.join(tmp, 'chdb')}`, SEZIM_CONFIG: config };
    await runSezimOK(bin, ['migrate', 'up'], { env });
    await runSezimOK(bin, ['user', 'add', '--role', 'admin', 'admin'], { env, stdin: `${PASSWORD}\n` });
    const token = (await runSezimOK(bin, ['user', 'token', 'add', '--label', 'e2e', 'admin'], { env })).trim();
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const dash = `http://127.0.0.1:${apiPort}`;
    sezim = await startServe(bin, ['--data', path.join(tmp, 'data'), '--addr', `127.0.0.1:${pubPort}`,
      '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`, '--insecure-cookie',
      '--rollup-interval', '1s', '--flush-interval', '200ms'], { adminOrigin: `http://127.0.0.1:${adminPort}`, env });

    // Thirty visitors (a user agent each: they all come from 127.0.0.1):
    // all see /, 20 see /pricing, 15 sign up, 8 of them on plan pro and 7
    // on team; every sign-up also sends a key the site does not keep.
    const beacon = async (ua, body) => {
      const res = await fetch(`http://127.0.0.1:${pubPort}/e`, {
        method: 'POST', body: JSON.stringify({ s: 'shop', w: 1280, ...body }),
        headers: { 'User-Agent': ua, Accept: '*/*', 'Accept-Language': 'ru-RU,ru;q=0.9', 'Content-Type': 'text/plain;charset=UTF-8' },
      });
      assert.equal(res.status, 202, await res.text());
    };
    for (let i = 0; i < 30; i++) {
      const ua = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`;
      await beacon(ua, { u: 'https://shop.test/' });
      if (i % 3 !== 2) await beacon(ua, { u: 'https://shop.test/pricing' });
      if (i % 2 === 0) await beacon(ua, { u: 'https://shop.test/pricing', n: 'signup', p: { plan: i % 4 === 0 ? 'pro' : 'team', email: `v${i}@mail.example` } });
    }
    let agg;
    await waitFor(async () => {
      const res = await fetch(`${dash}/api/v1/stats/aggregate?site=shop&period=today&goal=Signup`, { headers: { Authorization: `Bearer ${token}` } });
      agg = await res.json();
      return res.status === 200 && agg.results.visitors === 30 && agg.results.conversions === 15;
    }, { timeout: 30_000, interval: 500, describe: () => JSON.stringify(agg) });
    assert.equal(agg.results.conversion_rate, 50);

    const browser = await chromium.launch({ executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) errors.push(m.text()); });
    await signIn(page, dash, 'admin', PASSWORD);
    await page.goto(`${dash}/app/?site=shop&period=today`);

    // 1. The goals panel: each goal's conversions and rate.
    const goalRow = async (name) => page.$eval(`#goals-table tr[data-goal="${name}"]`, (tr) => [...tr.children].slice(0, 3).map((td) => td.textContent));
    await page.waitForSelector('#goals-table tr[data-goal="Signup"]');
    assert.deepEqual(await goalRow('Signup'), ['Signup', '15', '50%']);
    assert.deepEqual(await goalRow('Pricing'), ['Pricing', '20', '66.67%']);

    // 2. Choosing a goal: conversion cards, and a CR column in breakdowns.
    await page.click('#goals-table tr[data-goal="Signup"]');
    await page.waitForFunction(() => new URLSearchParams(location.search).get('goal') === 'Signup');
    await page.waitForFunction(() => document.querySelector('#metric-conversions')?.textContent === '15');
    assert.equal(await page.textContent('#metric-conversion_rate'), '50%');
    await page.waitForSelector('[data-panel="Pages"] tr.row[data-value="/pricing"] td.cr');
    const pages = await page.$$eval('[data-panel="Pages"] tr.row', (rs) => rs.map((r) => [r.dataset.value, r.children[1].textContent, r.children[3].textContent]));
    // 10 of the 20 who saw /pricing signed up (the other 5 sign-ups were
    // sent from /pricing without viewing it).
    assert.deepEqual(pages, [['/', '30', '50%'], ['/pricing', '20', '50%']]);
    await mkdir(artifactsDir, { recursive: true });
    await page.screenshot({ path: path.join(artifactsDir, 'dashboard-goals.png'), fullPage: true });

    // 3. The property: plan's values; the key the site does not list is
    // nowhere.
    await page.waitForSelector('[data-panel="Properties"] tr.row[data-value="pro"]');
    const plans = await page.$$eval('[data-panel="Properties"] tr.row', (rs) => rs.map((r) => [r.dataset.value, r.children[1].textContent]));
    assert.deepEqual(plans, [['pro', '8'], ['team', '7']]);
    assert.deepEqual(await page.$$eval('[data-panel="Properties"] button[data-dim]', (bs) => bs.map((b) => b.dataset.dim)), ['prop:plan']);

    // 4. An admin adds a goal in the page; the next rollup counts it.
    await page.fill('#goal-name', 'Home');
    await page.selectOption('#goal-kind', 'page');
    await page.fill('#goal-value', '/');
    await page.click('#goal-add');
    await page.waitForSelector('#goals-table tr[data-goal="Home"]');
    await waitFor(async () => {
      await page.reload();
      await page.waitForSelector('#goals-table tr[data-goal="Home"]');
      return (await goalRow('Home'))[1] === '30';
    }, { timeout: 30_000, interval: 1000, describe: async () => JSON.stringify(await goalRow('Home')) });
    assert.deepEqual(await goalRow('Home'), ['Home', '30', '100%']);
    // A goal of the file cannot be removed here; the page's own can.
    assert.equal(await page.$('#goals-table tr[data-goal="Signup"] .goal-del'), null);
    await page.click('#goals-table tr[data-goal="Home"] .goal-del');
    await page.waitForSelector('#goals-table tr[data-goal="Home"]', { state: 'detached' });

    // 5. A filter added while a goal is chosen keeps the goal: under
    // page = /pricing the conversions are the pair cell of /pricing and
    // Signup (10 of its 20 visitors); a panel of another property would
    // need three properties together, and says so above its rows.
    const urlHas = (goal, filter) => page.waitForFunction(([g, f]) => {
      const q = new URLSearchParams(location.search);
      return q.get('goal') === g && q.getAll('filter').join(' ') === f;
    }, [goal, filter]);
    await page.goto(`${dash}/app/?site=shop&period=today&goal=Signup`);
    await page.click('[data-panel="Pages"] tr.row[data-value="/pricing"]');
    await urlHas('Signup', 'page==/pricing');
    await page.waitForFunction(() => document.querySelector('#metric-conversions')?.textContent === '10');
    assert.equal(await page.textContent('#metric-conversion_rate'), '50%');
    await page.waitForSelector('[data-panel="Devices"] .goal-note');
    assert.match(await page.textContent('[data-panel="Devices"] .goal-note'), /three properties together/);
    await page.waitForSelector('[data-panel="Devices"] tr.row[data-value="Chrome"]');
    // 6. Choosing a goal keeps the filter: all 20 saw the Pricing page.
    await page.click('#goals-table tr[data-goal="Pricing"]');
    await urlHas('Pricing', 'page==/pricing');
    await page.waitForFunction(() => document.querySelector('#metric-conversions')?.textContent === '20');
    assert.equal(await page.textContent('#metric-conversion_rate'), '100%');
    await page.screenshot({ path: path.join(artifactsDir, 'dashboard-goal-filter.png'), fullPage: true });
    // 7. A goal the filters leave unanswered: the totals without it, the
    // API's reason, and the goal still chosen.
    await page.goto(`${dash}/app/?site=shop&period=today&goal=Signup&filter=${encodeURIComponent('browser~=chrom')}`);
    await page.waitForFunction(() => /one is filter only/.test(document.querySelector('#error')?.textContent || ''));
    await page.waitForFunction(() => document.querySelector('#metric-visitors')?.textContent === '30');
    assert.equal(await page.$('#metric-conversions'), null);
    assert.equal(new URL(page.url()).searchParams.get('goal'), 'Signup');

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
