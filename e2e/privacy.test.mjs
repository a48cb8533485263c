// The privacy console and consent receipts end to end: the real `sezim
// serve` on a ClickHouse server, accounts made with `sezim user`, a site page
// with the banner, and Chromium.
//
// 1. A visitor (a desktop Chrome user agent; the tracker allows automation)
//    accepts; the banner's settings then show the receipt POST /consent
//    returned, in en, ru and kk, also after a reload (from the cookie).
// 2. A viewer signs in: no link to the console, and /app/privacy/ is 403.
// 3. A privacy user follows the link, runs the report, looks the visitor's
//    receipt up (its rows, chain and position, the chain verifies) and sees
//    the look-up in the audit log.
// 4. The privacy user erases the visitor by the receipt (a legal reason,
//    the receipt typed again), sees "erased, 0 rows left" and the request
//    in the list, and ClickHouse holds none of the visitor's identified
//    rows; the erasure is in the audit log, filtered by action.
// 5. After a run of `sezim retention`, the retention history page shows the
//    run and its last run time.
//
// Needs SEZIM_TEST_CLICKHOUSE and SEZIM_TEST_CLICKHOUSE_HTTP (to drop its
// databases); without them it skips, unless CI=true. Screenshots:
// test-artifacts/receipt-{en,ru,kk}.png, privacy-report.png, privacy-receipt.png,
// privacy-erase.png, privacy-retention.png.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, artifactsDir } from './lib.mjs';
import { buildSezim, freePort, runSezimOK, signIn, startServe, waitFor } from './sezim-bin.mjs';

const SITE_ID = 'e2e';
const PAGE_HOST = 'www.site.test';
const COLLECTOR_HOST = 'stats.site.test';
const PASSWORD = 'a long and lovely passphrase';
const UA = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36';
// The receipt line of the banner's settings, per language (web/banner.js).
const RECEIPT = {
  en: ['Your consent receipt: ', '. Quote it in a request about your data.'],
  ru: ['Ваша квитанция о согласии: ', '. Укажите её в запросе о ваших данных.'],
  kk: ['Келісіміңіздің түбіртегі: ', '. Деректеріңіз туралы сұрауда оны көрсетіңіз.'],
};

function pageHTML(lang, collector) {
  return `<!doctype html>
<html lang="${lang}">
<head>
<script src="${collector}/banner.js" data-site="${SITE_ID}"></script>
<meta charset="utf-8">
<title>Sezim privacy e2e</title>
<script defer src="${collector}/s.js" data-site="${SITE_ID}" data-allow-automation></script>
</head>
<body>
<main><h1>Find your psychologist</h1></main>
<footer><a href="#" id="cookie-settings" data-sezim-consent-open>Cookie settings</a></footer>
</body>
</html>
`;
}

test('privacy console: receipts in the banner, the console for the privacy role only', { timeout: 300_000 }, async (t) => {
  const chHTTP = process.env.SEZIM_TEST_CLICKHOUSE_HTTP;
  if (!process.env.SEZIM_TEST_CLICKHOUSE || !chHTTP) {
    const msg = 'SEZIM_TEST_CLICKHOUSE and SEZIM_TEST_CLICKHOUSE_HTTP are not both set';
    if (process.env.CI === 'true') throw new Error(msg);
    t.skip(msg);
    return;
  }
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-privacy-e2e-'));
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  const statsDB = `e2e_privacy_${run}_stats`;
  const identDB = `e2e_privacy_${run}_identified`;
  const staffDB = `e2e_privacy_${run}_staff`;
  const chQuery = async (sql) => {
    const res = await fetch(chHTTP, { method: 'POST', body: sql });
    if (!res.ok) throw new Error(`ClickHouse HTTP ${res.status}: ${await res.text()}`);
    return res.text();
  };
  const chCount = async (table, where) => Number((await chQuery(`SELECT count() FROM ${identDB}.${table} WHERE ${where} FORMAT TabSeparated`)).trim());
  const cleanups = [
    () => rm(tmp, { recursive: true, force: true }),
    () => chQuery(`DROP DATABASE IF EXISTS ${statsDB}`),
    () => chQuery(`DROP DATABASE IF EXISTS ${identDB}`),
    () => chQuery(`DROP DATABASE IF EXISTS ${staffDB}`),
  ];
  let serve;
  let failed = true;
  try {
    const bin = await buildSezim(tmp);
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const collector = `http://${COLLECTOR_HOST}:${pubPort}`;
    const pages = createServer((req, res) => {
      const url = new URL(req.url, 'http://x');
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      }
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(pageHTML(url.searchParams.get('lang') || 'en', collector));
    });
    await new Promise((resolve, reject) => {
      pages.once('error', reject);
      pages.listen(0, '127.0.0.1', resolve);
    });
    cleanups.unshift(() => new Promise((r) => { pages.closeAllConnections(); pages.close(() => r()); }));
    const pageOrigin = `http://${PAGE_HOST}:${pages.address().port}`;

    const config = path.join(tmp, 'sites.yaml');
    await writeFile(config, `trusted_proxies: []
sites:
  - id: ${SITE_ID}
    domains: [site.test]
    origins: ["${pageOrigin}"]
    timezone: Asia/Almaty
    consent:
      purposes: [functional, statistics, identified]
      policy_version: "2026-11"
      policy_text_hash: "${createHash('sha256').update('Sezim e2e privacy policy').digest('hex')}"
      cookie_domain: site.test
`);
    const store = ['--store', process.env.SEZIM_TEST_CLICKHOUSE, '--stats-db', statsDB, '--identified-db', identDB, '--staff-db', staffDB, '--config', config];
    await runSezimOK(bin, ['migrate', 'up', ...store]);
    await runSezimOK(bin, ['user', 'add', ...store, '--role', 'viewer', '--sites', SITE_ID, 'vic'], { stdin: `${PASSWORD}\n` });
    await runSezimOK(bin, ['user', 'add', ...store, '--role', 'privacy', '--sites', SITE_ID, 'pia'], { stdin: `${PASSWORD}\n` });
    serve = await startServe(bin, [...store, '--data', path.join(tmp, 'data'),
      '--addr', `127.0.0.1:${pubPort}`, '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`,
      '--consent-cookie-secure', 'never', '--insecure-cookie',
      '--rollup-interval', '1s', '--flush-interval', '200ms'],
    { adminOrigin: `http://127.0.0.1:${adminPort}`, env: { ...process.env, SEZIM_CONSENT_KEY: randomBytes(32).toString('hex') } });
    const dash = `http://127.0.0.1:${apiPort}`;

    const browser = await chromium.launch({
      executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...CHROMIUM_ARGS, `--host-resolver-rules=MAP ${PAGE_HOST} 127.0.0.1, MAP ${COLLECTOR_HOST} 127.0.0.1`,
        `--unsafely-treat-insecure-origin-as-secure=${pageOrigin},${collector}`],
    });
    cleanups.unshift(() => browser.close());
    await mkdir(artifactsDir, { recursive: true });
    const errors = [];

    // 1. The visitor accepts; the settings show the receipt.
    const vctx = await browser.newContext({ userAgent: UA, viewport: { width: 1280, height: 800 } });
    const vp = await vctx.newPage();
    vp.on('pageerror', (e) => errors.push(e.message));
    const replies = [];
    vp.on('response', async (r) => {
      if (r.request().method() === 'POST' && new URL(r.url()).pathname === '/consent') replies.push(await r.json().catch(() => null));
    });
    const banner = (sel) => vp.evaluate((s) => {
      const h = document.querySelector('[data-sezim-consent]');
      const e = h && h.shadowRoot.querySelector(s);
      return e ? { hidden: e.hidden || !!e.closest('[hidden]'), text: e.textContent } : null;
    }, sel);
    await vp.goto(`${pageOrigin}/?lang=en`);
    await vp.waitForFunction(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return h && !h.shadowRoot.querySelector('.bd').hidden;
    });
    assert.equal((await banner('[data-receipt]')).hidden, true, 'no receipt before a decision');
    await vp.evaluate(() => document.querySelector('[data-sezim-consent]').shadowRoot.querySelector('[data-a=accept_all]').click());
    const accepted = await waitFor(() => replies.find((r) => r && r.purposes && r.purposes.includes('statistics')), { timeout: 10_000, interval: 50, describe: () => JSON.stringify(replies) });
    const receipt = accepted.receipt;
    assert.match(receipt, /^[A-Za-z0-9_-]{16}$/);
    const settingsShow = async (lang) => {
      await vp.click('#cookie-settings');
      await vp.waitForFunction(() => {
        const h = document.querySelector('[data-sezim-consent]');
        return h && !h.shadowRoot.querySelector('.bd').hidden;
      });
      const rc = await banner('[data-receipt]');
      assert.equal(rc.hidden, false, `${lang}: the receipt line is shown`);
      assert.equal(rc.text, RECEIPT[lang][0] + receipt + RECEIPT[lang][1]);
      await vp.screenshot({ path: path.join(artifactsDir, `receipt-${lang}.png`) });
    };
    await settingsShow('en');
    // After a reload, from the cookie (GET /consent/state), in ru and kk.
    for (const lang of ['ru', 'kk']) {
      await vp.goto(`${pageOrigin}/?lang=${lang}`);
      await vp.evaluate(() => window.Sezim.consent.ready);
      await settingsShow(lang);
    }

    const browse = async (user) => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      await signIn(page, dash, user, PASSWORD);
      await page.waitForFunction(() => document.querySelector('#who').textContent.includes('·'));
      return page;
    };

    // 2. A viewer: no link, and the console refuses.
    const vic = await browse('vic');
    assert.equal(await vic.locator('#privacy-link').count(), 0, 'no link for a viewer');
    const refused = await vic.goto(`${dash}/app/privacy/`);
    assert.equal(refused.status(), 403);
    assert.match(await vic.content(), /privacy role required/);
    assert.equal((await vic.goto(`${dash}/app/privacy/receipts?receipt=${receipt}`)).status(), 403);

    // 3. A privacy user: the link, the report, the receipt, the audit log.
    const pia = await browse('pia');
    await Promise.all([pia.waitForURL(`${dash}/app/privacy/`), pia.click('#privacy-link')]);
    await Promise.all([pia.waitForURL(/\/app\/privacy\/report\??$/), pia.click('#run-report')]);
    assert.match(await pia.textContent('#verdict'), /PASS|FAIL/);
    for (const check of ['email', 'ip_address', 'salt_age', 'salt_partitions', 'pair_k', 'consent_chains', 'retention_run', 'drops']) {
      assert.equal(await pia.locator(`tr[data-check="${check}"]`).count(), 1, `the report has ${check}`);
    }
    assert.match(await pia.textContent('tr[data-check="consent_chains"]'), /PASS/, 'the chain of the decisions above verifies');
    assert.match(await pia.textContent('tr[data-check="email"]'), /PASS/);
    await pia.screenshot({ path: path.join(artifactsDir, 'privacy-report.png'), fullPage: true });

    await pia.click('a[href="/app/privacy/receipts"]');
    await pia.fill('#receipt', receipt);
    await Promise.all([pia.waitForURL(/receipts\?receipt=/), pia.click('#receipts button[type=submit]')]);
    const rows = await pia.locator('#receipt-rows tbody tr').allTextContents();
    assert.equal(rows.length, 1, rows.join('\n'));
    assert.match(rows[0], /accept_all/);
    assert.match(await pia.textContent('#receipt-chains'), /VERIFIES/);
    await pia.screenshot({ path: path.join(artifactsDir, 'privacy-receipt.png'), fullPage: true });

    await pia.click('a[href="/app/privacy/audit"]');
    const audit = await pia.locator('#audit tbody tr').allTextContents();
    assert.match(audit[0], /audit_view/, 'newest first: this very view');
    assert.ok(audit.some((r) => r.includes('receipt_lookup') && r.includes(receipt) && r.includes('pia')), audit.join('\n'));
    assert.ok(audit.some((r) => r.includes('privacy_report')), audit.join('\n'));

    // 4. Erase the visitor by the receipt. The visitor leaves first, and
    // their consented rows and the receipt's link are stored before.
    const vid = (await vctx.cookies()).find((c) => c.name === 'sezim_vid');
    assert.ok(vid, 'accepting "identified" set the visitor id cookie');
    await vctx.close();
    const held = await waitFor(async () => {
      const [events, links] = await Promise.all([chCount('events', `visitor_id = '${vid.value}'`), chCount('consent_visitors', `receipt = '${receipt}'`)]);
      return events > 0 && links > 0 && { events, links };
    }, { timeout: 15_000, interval: 250, describe: () => 'the visitor\'s identified rows and receipt link' });
    t.diagnostic(`held before the erasure: ${JSON.stringify(held)}`);
    await pia.click('a[href="/app/privacy/subjects"]');
    await pia.selectOption('#kind', 'receipt');
    await pia.fill('#value', receipt);
    await pia.fill('#reason', 'the subject\'s request of 2026-11-29, by e-mail');
    await Promise.all([pia.waitForURL(/\/subjects\/erase$/), pia.click('#do-erase')]);
    assert.match(await pia.textContent('#erase-confirm'), /cannot be undone/);
    assert.equal(await chCount('events', `visitor_id = '${vid.value}'`), held.events, 'nothing erased before the confirmation');
    await pia.fill('#confirm', receipt);
    await pia.click('#erase-now');
    await pia.waitForSelector('#subject-result');
    assert.equal(await pia.textContent('#subject-result'), 'erased, 0 rows left');
    const reqs = await pia.locator('#subject-requests tbody tr').allTextContents();
    assert.match(reqs[0], /pia\s*erase\s*receipt:[0-9a-f]{16}.*by e-mail.*erased, 0 rows left/s, reqs.join('\n'));
    assert.equal(await chCount('events', `visitor_id = '${vid.value}'`), 0, 'no identified event of the visitor is left');
    assert.equal(await chCount('consent_visitors', `receipt = '${receipt}'`), 0, 'the receipt leads to no visitor');
    await pia.screenshot({ path: path.join(artifactsDir, 'privacy-erase.png'), fullPage: true });
    await pia.goto(`${dash}/app/privacy/audit?action=subject_erase`);
    const erasures = await pia.locator('#audit tbody tr').allTextContents();
    assert.equal(erasures.length, 1, erasures.join('\n'));
    assert.match(erasures[0], /pia\s*subject_erase\s*receipt:[0-9a-f]{16}\s*ok/);

    // 5. The retention history, after a run of the job.
    // Its own data folder: serve keeps the salts and the checkpoints.
    await mkdir(path.join(tmp, 'retention-data'), { recursive: true });
    await runSezimOK(bin, ['retention', ...store, '--data', path.join(tmp, 'retention-data')]);
    await pia.click('a[href="/app/privacy/retention"]');
    assert.match(await pia.textContent('#retention-last'), /^Last run: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC\.$/);
    const history = await pia.locator('#retention tbody tr').allTextContents();
    assert.ok(history.length >= 1 && /run of the job.*sezim retention \(cli:/s.test(history[0]), history.join('\n'));
    await pia.screenshot({ path: path.join(artifactsDir, 'privacy-retention.png'), fullPage: true });
    assert.deepEqual(errors, []);
    failed = false;
  } finally {
    // The cleanups (Chromium, the page server) run whatever the stop gives:
    // a handle left open keeps this file's process, and the runner, alive.
    let stopped = null;
    try {
      // The default grace: serve's own shutdown budget is 15 s (a last
      // rollup runs in it), so a shorter one may kill a clean shutdown.
      if (serve) stopped = await serve.stop();
    } finally {
      for (const c of cleanups) {
        try { await c(); } catch (err) { console.error(`cleanup: ${err.message}`); }
      }
    }
    if (stopped && (failed || stopped.code !== 0)) console.error(`--- sezim serve stderr ---\n${serve.out.stderr}--- end ---`);
    if (stopped && !failed) assert.deepEqual(stopped, { code: 0, signal: null }, 'sezim serve exits 0 on SIGTERM');
  }
});
