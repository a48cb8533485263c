// The funnel panel as staff use it: the real `sezim serve` binary on the
// embedded engine with a site that configures two funnels, visits sent
// through the real collector's pixel (pages and a custom event), the rollup
// counting them, then Chromium: the panel shows one bar per step with the
// visits, the share of step 1 and the drop-off, hides a step below k, and
// switches funnels with its chooser.
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

test('dashboards: the funnel panel', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-funnel-e2e-'));
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
    k_threshold: 5
    funnels:
      - name: Signup
        steps: [{page: /pricing}, {page: "/signup/*"}, {event: signup}]
      - name: Docs
        steps: [{page: /docs}, {page: /docs/install}]
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

    // Twenty visitors see /pricing, twelve go on to a signup page (with
    // the blog in between for some), three send the signup event; two see
    // a signup page without /pricing first, which is no step 2.
    const hit = async (ua, q) => {
      const res = await fetch(`http://127.0.0.1:${pubPort}/p.gif?${new URLSearchParams({ s: 'shop', w: '1280', ...q })}`,
        { headers: { 'User-Agent': ua, Accept: 'image/*' } });
      assert.equal(res.status, 200, `pixel: ${res.headers.get('x-sezim-reason')}`);
      await res.arrayBuffer();
    };
    for (let i = 0; i < 22; i++) {
      const ua = `Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/${100 + i}.0.0.0 Safari/537.36`;
      if (i >= 20) {
        await hit(ua, { u: 'https://shop.test/signup/plan' });
        continue;
      }
      await hit(ua, { u: 'https://shop.test/pricing' });
      if (i % 4 === 0) await hit(ua, { u: 'https://shop.test/blog' });
      if (i < 12) await hit(ua, { u: 'https://shop.test/signup/plan' });
      if (i < 3) await hit(ua, { u: 'https://shop.test/signup/plan', n: 'signup' });
    }
    let ans;
    await waitFor(async () => {
      const res = await fetch(`${dash}/api/v1/stats/funnel?site=shop&period=today&funnel=Signup`, { headers: { Authorization: `Bearer ${token}` } });
      ans = { status: res.status, body: await res.json().catch(() => null) };
      return ans.status === 200 && ans.body.steps[0].visits === 20 && ans.body.steps[1].visits === 12;
    }, { timeout: 30_000, interval: 500, describe: () => JSON.stringify(ans) });
    assert.deepEqual(ans.body.steps.map((s) => [s.step, s.visitors, s.visits, s.suppressed]),
      [[1, 20, 20, false], [2, 12, 12, false], [3, null, null, true]]);
    assert.equal(ans.body.steps[1].dropoff, 8);
    assert.equal(ans.body.steps[1].conversion_from_previous, 60);

    const browser = await chromium.launch({ executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium', headless: true, args: CHROMIUM_ARGS });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    const page = await context.newPage();
    page.on('pageerror', (e) => errors.push(e.message));
    page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    await signIn(page, dash, 'admin', PASSWORD);
    await page.selectOption('#period', 'today');
    await page.waitForSelector('#funnels[data-funnel="Signup"] li.step[data-step="3"]');
    assert.deepEqual(await page.$$eval('#funnel option', (os) => os.map((o) => o.value)), ['Signup', 'Docs']);
    const steps = () => page.$$eval('#funnels li.step', (ls) => ls.map((l) => [
      l.querySelector('.step-label').textContent, l.querySelector('.step-nums').textContent, l.querySelector('.fill').style.width]));
    assert.deepEqual(await steps(), [
      ['1. /pricing', '20 visits · 100% of step 1', '100%'],
      ['2. /signup/*', '12 visits · 60% of step 1 · −8 (40%) from step 1', '60%'],
      ['3. Event signup', '< 5', '0%'],
    ]);
    await mkdir(artifactsDir, { recursive: true });
    await page.locator('#funnels').screenshot({ path: path.join(artifactsDir, 'dashboard-funnel.png') });

    // The other funnel: nobody went through it.
    await page.selectOption('#funnel', 'Docs');
    await page.waitForSelector('#funnels[data-funnel="Docs"]');
    assert.deepEqual(await steps(), [
      ['1. /docs', '0 visits · 0% of step 1', '0%'],
      ['2. /docs/install', '0 visits · 0% of step 1 · −0 (0%) from step 1', '0%'],
    ]);
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
