// Consent end to end, on the real store: the `sezim serve` binary with a
// ClickHouse server behind it, a site page that embeds banner.js and the
// tracker, Chromium driven by the keyboard, and what reached ClickHouse read
// back over its HTTP interface.
//
// Needs SEZIM_TEST_CLICKHOUSE (clickhouse://…, native protocol: the store)
// and SEZIM_TEST_CLICKHOUSE_HTTP (the same server's HTTP interface, to read
// the tables); scripts/test.sh sets both. Without them the tests skip, unless
// CI=true, where they fail. Each run uses databases of its own and drops them.
//
// The tests run in order and share the collector: 1 reject, 2 accept,
// 3 verify the consent log, 4 bump the policy version (restarting serve),
// 5 the three languages.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, artifactsDir } from './lib.mjs';
import { buildSezim, freePort, runSezim, sleep, startServe, waitFor } from './sezim-bin.mjs';

const SITE_ID = 'e2e';
const PAGE_HOST = 'www.site.test';
const COLLECTOR_HOST = 'stats.site.test';
const DESKTOP = { width: 1280, height: 800 };
const V1 = '2026-11';
const V2 = '2026-12';

// Every visitor comes from 127.0.0.1, so each gets a user agent of its own
// (the cookieless visitor hash is made from address and user agent). None
// may be headless Chromium's own: "HeadlessChrome" is dropped as a robot.
const UA = {
  reject: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  accept: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  lang: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36',
};

// The first layer's heading and buttons, per language (web/banner.js).
const TEXT = {
  en: { title: 'Cookies and your privacy', accept: 'Accept all', reject: 'Reject all', settings: 'Settings' },
  ru: { title: 'Файлы cookie и конфиденциальность', accept: 'Принять все', reject: 'Отклонить все', settings: 'Настройки' },
  kk: { title: 'Cookie файлдары және құпиялылық', accept: 'Барлығын қабылдау', reject: 'Барлығынан бас тарту', settings: 'Баптаулар' },
};
const PAGE = {
  ru: { h: 'Найдите своего психолога', p: 'Видеоконсультации с проверенными специалистами.', link: 'Настройки cookie' },
  kk: { h: 'Өз психологыңызды табыңыз', p: 'Тексерілген мамандармен бейнекеңестер.', link: 'Cookie баптаулары' },
  en: { h: 'Find your psychologist', p: 'Video consultations with verified specialists.', link: 'Cookie settings' },
};

const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');
const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

// The site's page: banner.js first in <head>, the tracker, and a script
// blocked until statistics is granted. ?lang= sets <html lang>.
function pageHTML(lang, collectorOrigin) {
  const t = PAGE[lang] || PAGE.en;
  return `<!doctype html>
<html lang="${esc(lang)}">
<head>
<script src="${collectorOrigin}/banner.js" data-site="${SITE_ID}"></script>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sezim consent e2e</title>
<script defer src="${collectorOrigin}/s.js" data-site="${SITE_ID}" data-allow-automation></script>
<style>
body { font: 16px/1.6 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f5f3ef; }
header { padding: 18px 32px; background: #fff; border-bottom: 1px solid #e4e1da; font-weight: 700; font-size: 20px; color: #1c5d58; }
main { max-width: 760px; margin: 0 auto; padding: 56px 32px; }
h1 { font-size: 40px; line-height: 1.15; margin: 0 0 16px; }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 16px; margin-top: 32px; }
.cards div { background: #fff; border-radius: 12px; height: 120px; }
footer { padding: 24px 32px; color: #5a6472; }
</style>
</head>
<body>
<header>Sezim</header>
<main>
<h1>${esc(t.h)}</h1>
<p>${esc(t.p)}</p>
<div class="cards"><div></div><div></div><div></div></div>
<script type="text/plain" data-purpose="statistics">window.statsRan = true;</script>
</main>
<footer><a href="#" data-sezim-consent-open>${esc(t.link)}</a></footer>
</body>
</html>
`;
}

// ---- ClickHouse, read over HTTP --------------------------------------------

const chHTTP = process.env.SEZIM_TEST_CLICKHOUSE_HTTP;

async function chQuery(sql) {
  const res = await fetch(chHTTP, { method: 'POST', body: sql });
  const text = await res.text();
  if (!res.ok) throw new Error(`ClickHouse HTTP ${res.status} for ${sql}: ${text}`);
  return text;
}
const chRows = async (sql) => (await chQuery(`${sql} FORMAT JSONEachRow`)).split('\n').filter(Boolean).map((l) => JSON.parse(l));
const chCount = async (sql) => Number((await chQuery(sql)).trim());

// ---- shared state ----------------------------------------------------------

const S = {
  skip: '',
  failed: false,
  cleanups: [],
};

/** Wraps a test body: skips without a store, and notes failures for the report. */
function step(name, fn) {
  test(name, { timeout: 120_000 }, async (t) => {
    if (S.skip) return t.skip(S.skip);
    try {
      await fn(t);
    } catch (err) {
      S.failed = true;
      throw err;
    }
  });
}

const configYAML = (version) => `trusted_proxies: []
sites:
  - id: ${SITE_ID}
    domains: [site.test]
    origins: ["${S.pageOrigin}"]
    timezone: Asia/Almaty
    consent:
      purposes: [functional, statistics, identified, third_party]
      services: [{id: yandex_metrica}]
      policy_version: "${version}"
      policy_text_hash: "${sha256(`Sezim e2e privacy policy, version ${version}`)}"
      cookie_domain: site.test
`;

async function serve() {
  return startServe(S.bin, [
    ...S.storeArgs,
    '--config', S.config, '--data', path.join(S.tmp, 'data'),
    '--addr', `127.0.0.1:${S.pubPort}`, '--api-addr', `127.0.0.1:${S.apiPort}`, '--admin-addr', `127.0.0.1:${S.adminPort}`,
    '--consent-key', S.key, '--consent-cookie-secure', 'never',
    '--rollup-interval', '1s', '--flush-interval', '200ms',
  ], { adminOrigin: `http://127.0.0.1:${S.adminPort}` });
}

before(async () => {
  if (!process.env.SEZIM_TEST_CLICKHOUSE || !chHTTP) {
    const msg = 'SEZIM_TEST_CLICKHOUSE and SEZIM_TEST_CLICKHOUSE_HTTP are not both set (scripts/test.sh sets them)';
    if (process.env.CI === 'true') throw new Error(msg);
    S.skip = msg;
    return;
  }
  S.store = process.env.SEZIM_TEST_CLICKHOUSE;
  S.tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-consent-e2e-'));
  S.cleanups.push(() => rm(S.tmp, { recursive: true, force: true }));
  const run = `${Date.now().toString(36)}${randomBytes(3).toString('hex')}`;
  S.statsDB = `e2e_consent_${run}_stats`;
  S.identDB = `e2e_consent_${run}_identified`;
  S.staffDB = `e2e_consent_${run}_staff`;
  S.cleanups.unshift(async () => {
    await chQuery(`DROP DATABASE IF EXISTS ${S.statsDB}`);
    await chQuery(`DROP DATABASE IF EXISTS ${S.identDB}`);
    await chQuery(`DROP DATABASE IF EXISTS ${S.staffDB}`);
  });
  S.key = randomBytes(32).toString('hex');
  S.storeArgs = ['--store', S.store, '--stats-db', S.statsDB, '--identified-db', S.identDB, '--staff-db', S.staffDB];

  const began = Date.now();
  S.bin = await buildSezim(S.tmp);
  S.buildMs = Date.now() - began;

  [S.pubPort, S.apiPort, S.adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
  S.collectorOrigin = `http://${COLLECTOR_HOST}:${S.pubPort}`;
  const pages = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(pageHTML(url.searchParams.get('lang') || 'en', S.collectorOrigin));
  });
  await new Promise((resolve, reject) => {
    pages.once('error', reject);
    pages.listen(0, '127.0.0.1', resolve);
  });
  S.cleanups.unshift(() => new Promise((r) => { pages.closeAllConnections(); pages.close(() => r()); }));
  S.pageOrigin = `http://${PAGE_HOST}:${pages.address().port}`;

  S.config = path.join(S.tmp, 'sites.yaml');
  await writeFile(S.config, configYAML(V1));
  const mig = await runSezim(S.bin, ['migrate', 'up', ...S.storeArgs, '--config', S.config]);
  assert.equal(mig.code, 0, `sezim migrate up: ${mig.stderr}`);
  S.serve = await serve();

  S.browser = await chromium.launch({
    executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      ...CHROMIUM_ARGS,
      `--host-resolver-rules=MAP ${PAGE_HOST} 127.0.0.1, MAP ${COLLECTOR_HOST} 127.0.0.1`,
      // crypto.subtle (text_hash) needs a secure context: the plain-http
      // test origins are declared secure, as an https site would be.
      `--unsafely-treat-insecure-origin-as-secure=${S.pageOrigin},${S.collectorOrigin}`,
    ],
  });
  S.cleanups.unshift(() => S.browser.close());
}, { timeout: 240_000 });

after(async () => {
  if (S.serve) {
    await S.serve.stop(5000);
    if (S.failed) console.error(`--- sezim serve stderr ---\n${S.serve.out.stderr}--- end ---`);
  }
  for (const c of S.cleanups) {
    try { await c(); } catch (err) { console.error(`cleanup: ${err.message}`); }
  }
});

// ---- the browser side ------------------------------------------------------

/**
 * A visitor: a browser context of its own, recording every consent POST
 * with its answer and every tracker beacon's Cookie header.
 */
async function visitor(userAgent, locale) {
  const context = await S.browser.newContext({ userAgent, locale, viewport: DESKTOP });
  const posts = [];
  const beacons = [];
  const errors = [];
  context.on('requestfinished', async (r) => {
    const u = new URL(r.url());
    if (u.origin !== S.collectorOrigin || r.method() !== 'POST') return;
    if (u.pathname === '/consent') {
      const entry = { body: JSON.parse(r.postData()), status: 0, reply: null };
      try {
        const res = await r.response();
        entry.status = res.status();
        entry.reply = await res.json();
      } catch { /* reported by the status and the reply */ }
      posts.push(entry);
    } else if (u.pathname === '/e') {
      // A beacon that leaves as the page unloads is not always reported:
      // these are the ones seen, not all that were sent.
      try { beacons.push((await r.allHeaders()).cookie || ''); } catch { /* its page is gone */ }
    }
  });
  context.on('requestfailed', (r) => {
    const u = new URL(r.url());
    if (u.origin === S.collectorOrigin && u.pathname === '/consent' && r.method() === 'POST') {
      posts.push({ body: JSON.parse(r.postData()), status: 0, reply: null, failure: r.failure()?.errorText });
    }
  });
  const page = await context.newPage();
  page.on('pageerror', (e) => errors.push(e.message));
  S.cleanups.unshift(() => context.close());
  return {
    context,
    page,
    posts,
    beacons,
    errors,
    /** The n-th POST of action, once it has been answered. */
    waitPost: async (action, n = 1) => waitFor(() => posts.filter((x) => x.body.action === action)[n - 1], {
      timeout: 10_000, interval: 25, describe: () => `no answered POST /consent ${action} #${n}; saw ${JSON.stringify(posts)}`,
    }),
    goto: async (p) => {
      await page.goto(`${S.pageOrigin}${p}`, { waitUntil: 'load' });
      await page.evaluate(() => window.Sezim.consent.ready);
    },
    shown: () => page.waitForFunction(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return h && !h.shadowRoot.querySelector('.bd').hidden;
    }),
    isOpen: () => page.evaluate(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return !!h && !h.shadowRoot.querySelector('.bd').hidden;
    }),
    statsRan: () => page.evaluate(() => window.statsRan === true),
    cookies: async () => Object.fromEntries((await context.cookies()).map((c) => [c.name, c])),
  };
}

/** Presses Tab (only the keyboard) until the banner button data-a=action has focus. */
async function tabTo(page, action) {
  for (let i = 0; i < 12; i++) {
    await page.keyboard.press('Tab');
    const a = await page.evaluate(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return h && document.activeElement === h && h.shadowRoot.activeElement
        ? h.shadowRoot.activeElement.getAttribute('data-a') : null;
    });
    if (a === action) return;
  }
  throw new Error(`Tab never reached ${action}`);
}

/**
 * The consent log's rows matching where, once at least n are there: the
 * collector answers a decision once it is in its local journal and ships
 * the journal to ClickHouse about once a second.
 */
async function consentLog(where, n) {
  let rows = [];
  await waitFor(async () => {
    rows = await chRows(`SELECT chain, seq, receipt, site, action, policy_version, policy_hash, text_hash, lang,
  purposes_granted, purposes_denied, services, gpc, dnt, ip, browser FROM ${S.identDB}.consent_log WHERE ${where} ORDER BY chain, seq`);
    return rows.length >= n;
  }, { timeout: 15_000, interval: 250, describe: () => `${n} consent log rows where ${where}; have ${rows.length}` });
  return rows;
}

/** Waits until the stats events table has at least n pageviews whose path is LIKE pattern; returns their paths, sorted. */
async function statsPageviews(pattern, n) {
  let got = [];
  await waitFor(async () => {
    got = (await chRows(`SELECT path FROM ${S.statsDB}.events WHERE site = '${SITE_ID}' AND kind = 1 AND path LIKE '${pattern}'`)).map((r) => r.path).sort();
    return got.length >= n;
  }, { timeout: 20_000, interval: 250, describe: () => `${n} pageviews LIKE ${pattern} in ${S.statsDB}.events; have ${JSON.stringify(got)}` });
  return got;
}

const identifiedEvents = (where) => chRows(`SELECT visitor_id, user_id, ip, kind, path, browser FROM ${S.identDB}.events
  WHERE site = '${SITE_ID}' AND ${where} ORDER BY ts, path`);

// ---- the tests -------------------------------------------------------------

step('first visit shows the banner; keyboard-only "Reject all": pageviews stay anonymous, sezim_identified gets only the consent log', async (t) => {
  t.diagnostic(`go build: ${S.buildMs} ms; stats ${S.statsDB}, identified ${S.identDB}`);
  const v = await visitor(UA.reject, 'en-US');
  await v.goto('/r?lang=en');
  await v.shown();
  const shown = await v.waitPost('shown');
  assert.equal(shown.status, 200, `shown: ${JSON.stringify(shown)}`);
  assert.match(shown.body.text_hash, /^[0-9a-f]{64}$/, 'the page is a secure context: text_hash is computed');
  assert.equal(await v.statsRan(), false, 'nothing optional before a choice');

  await tabTo(v.page, 'reject_all');
  await v.page.keyboard.press('Enter');
  const rejected = await v.waitPost('reject_all');
  assert.equal(rejected.status, 200, `reject_all: ${JSON.stringify(rejected)}`);
  assert.deepEqual([rejected.reply.purposes, rejected.reply.services], [['necessary'], []]);
  assert.equal(rejected.reply.policy_version, V1);
  await v.page.waitForFunction(() => window.Sezim.consent.get().decided);
  assert.equal(await v.isOpen(), false);
  assert.equal(await v.statsRan(), false, 'the blocked script stays blocked');

  // More pages: no banner, nothing optional runs.
  await v.page.reload({ waitUntil: 'load' });
  await v.page.evaluate(() => window.Sezim.consent.ready);
  await v.goto('/r/pricing?lang=en');
  await sleep(200);
  assert.equal(await v.isOpen(), false, 'the refusal is remembered');
  assert.equal(await v.statsRan(), false);
  assert.equal(v.posts.length, 2, `one "shown", one "reject_all": ${JSON.stringify(v.posts.map((p) => p.body.action))}`);

  const cookies = await v.cookies();
  assert.ok(cookies.sezim_consent, 'the refusal is stored in sezim_consent');
  assert.equal(cookies.sezim_consent.domain, '.site.test');
  assert.equal(cookies.sezim_vid, undefined, 'no visitor id after a refusal');

  // ClickHouse: the three pageviews in the aggregates' events…
  assert.deepEqual(await statsPageviews('/r%', 3), ['/r', '/r', '/r/pricing']);
  assert.ok(v.beacons.length >= 1, 'beacons seen');
  for (const c of v.beacons) assert.ok(!/\bsezim_vid=/.test(c), `a beacon carried a visitor id: ${c}`);
  // …nothing in sezim_identified.events (its writer flushes every second)…
  await sleep(1500);
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.events`), 0, 'no consented row after a refusal');
  // …and the two decisions in the consent log, with the receipts given.
  const log = await consentLog('1', 2);
  assert.deepEqual(log.map((r) => [r.action, r.receipt]), [['shown', shown.reply.receipt], ['reject_all', rejected.reply.receipt]]);
  for (const [i, post] of [shown, rejected].entries()) {
    const r = log[i];
    assert.equal(r.seq, String(i + 1));
    assert.equal(r.site, SITE_ID);
    assert.equal(r.policy_version, V1);
    assert.equal(r.policy_hash, sha256(`Sezim e2e privacy policy, version ${V1}`));
    assert.equal(r.text_hash, post.body.text_hash, 'the hash of the text the visitor saw');
    assert.equal(r.lang, 'en');
    assert.equal(r.ip, '127.0.0.0', 'the consent log keeps the /24 only');
    assert.equal(r.browser, 'Chrome');
  }
  assert.equal(log[1].purposes_granted, 'necessary');
  assert.equal(log[1].purposes_denied, 'functional,statistics,identified,third_party');
  assert.equal(log[1].services, '');
  assert.deepEqual(v.errors, [], 'the page threw');
});

step('keyboard-only "Accept all": the blocked script runs without a reload, consented rows carry the sezim_vid cookie and a truncated IP', async () => {
  const v = await visitor(UA.accept, 'ru-RU');
  S.accepted = v;
  await v.goto('/a?lang=en');
  await v.shown();
  assert.equal((await v.waitPost('shown')).status, 200);
  await v.page.evaluate(() => { window.sameDocument = true; });

  await tabTo(v.page, 'accept_all');
  await v.page.keyboard.press('Enter');
  const accepted = await v.waitPost('accept_all');
  assert.equal(accepted.status, 200, `accept_all: ${JSON.stringify(accepted)}`);
  assert.deepEqual([accepted.reply.purposes, accepted.reply.services],
    [['necessary', 'functional', 'statistics', 'identified', 'third_party'], ['yandex_metrica']]);
  await v.page.waitForFunction(() => window.statsRan === true, null, { timeout: 5000 });
  assert.equal(await v.page.evaluate(() => window.sameDocument), true, 'enabled in place, no reload');
  assert.equal(await v.isOpen(), false);

  const { sezim_vid: vid, sezim_consent: consentCookie } = await v.cookies();
  assert.ok(consentCookie, 'sezim_consent is set');
  assert.ok(vid, 'sezim_vid is set after statistics consent');
  assert.match(vid.value, /^[A-Za-z0-9_-]{22}$/, '128 random bits, base64url');
  assert.equal(vid.domain, '.site.test');
  assert.equal(vid.httpOnly, true);

  // More pages, now with consent: the blocked script runs on each.
  await v.goto('/a/pricing?lang=en');
  assert.equal(await v.statsRan(), true);
  await v.goto('/a/about?lang=en');
  assert.equal(await v.statsRan(), true);
  assert.equal(await v.isOpen(), false);

  // ClickHouse: every pageview in the aggregates' events (the first one was
  // sent before the choice)…
  assert.deepEqual(await statsPageviews('/a%', 3), ['/a', '/a/about', '/a/pricing']);
  // …and the consented ones in sezim_identified.events, with the cookie's
  // visitor id and the /24 of 127.0.0.1.
  let rows = [];
  await waitFor(async () => {
    rows = await identifiedEvents(`path LIKE '/a%'`);
    return rows.length >= 2;
  }, { timeout: 15_000, interval: 250, describe: () => `two consented rows; have ${JSON.stringify(rows)}` });
  assert.deepEqual(rows.map((r) => r.path).sort(), ['/a/about', '/a/pricing'], 'the pageview before the choice is not a consented row');
  for (const r of rows) {
    assert.equal(r.visitor_id, vid.value, 'visitor_id is the sezim_vid cookie');
    assert.equal(r.ip, '127.0.0.0', 'the IP is truncated to its /24');
    assert.equal(r.kind, 1);
    assert.equal(r.user_id, '', 'the site passed no user id');
    assert.equal(r.browser, 'Chrome');
  }
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.events WHERE ip = '127.0.0.1' OR NOT endsWith(ip, '.0')`), 0, 'never the full IP');
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.events WHERE path LIKE '/r%'`), 0, 'still nothing of the visitor who refused');
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.events WHERE visitor_id != '${vid.value}'`), 0);

  const log = await consentLog(`action = 'accept_all'`, 1);
  assert.equal(log.length, 1);
  assert.equal(log[0].receipt, accepted.reply.receipt);
  assert.equal(log[0].purposes_granted, 'necessary,functional,statistics,identified,third_party');
  assert.equal(log[0].purposes_denied, '');
  assert.equal(log[0].services, 'yandex_metrica:RU', 'the service and its destination country');
  assert.equal(log[0].text_hash, accepted.body.text_hash);
  assert.equal(log[0].ip, '127.0.0.0');
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.consent_log WHERE ip != '127.0.0.0'`), 0);
  assert.deepEqual(v.errors, [], 'the page threw');
});

step('sezim verify consent-log: the chain written by the collector verifies', async () => {
  const rows = (await consentLog('1', 4)).length;
  assert.equal(rows, 4, 'shown, reject_all, shown, accept_all');
  const r = await runSezim(S.bin, ['verify', 'consent-log', ...S.storeArgs, '--data', path.join(S.tmp, 'data')]);
  assert.equal(r.code, 0, `verify: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /chain \S+: 4 rows \(4 keyed, 0 unkeyed\)[^\n]*: intact/);
  assert.match(r.stdout, /consent log verified: 1 chain\(s\), 4 rows/);
});

step('a new policy version (serve restarted with it) prompts the visitor who accepted again', async (t) => {
  const v = S.accepted;
  assert.ok(v, 'needs the visitor of the "Accept all" test');
  const vid = (await v.cookies()).sezim_vid.value;

  // /consent/config is revalidated on every use (no-cache + ETag), so no
  // browser keeps posting the old version after a bump.
  const config = (etag) => fetch(`http://127.0.0.1:${S.pubPort}/consent/config?s=${SITE_ID}`, {
    headers: { Origin: S.pageOrigin, ...(etag ? { 'If-None-Match': etag } : {}) },
  });
  const c1 = await config();
  assert.equal(c1.status, 200);
  assert.equal(c1.headers.get('cache-control'), 'no-cache');
  const etag = c1.headers.get('etag');
  assert.match(etag || '', /^"[0-9a-f]+"$/);
  assert.equal((await c1.json()).policy_version, V1);
  const c2 = await config(etag);
  assert.equal(c2.status, 304, 'unchanged: 304');

  const stopped = await S.serve.stop();
  assert.deepEqual(stopped, { code: 0, signal: null }, 'sezim serve exits cleanly on SIGTERM');
  await writeFile(S.config, configYAML(V2));
  S.serve = await serve();
  const c3 = await config(etag);
  assert.equal(c3.status, 200, 'the bumped config is not "not modified"');
  assert.notEqual(c3.headers.get('etag'), etag);
  assert.equal((await c3.json()).policy_version, V2);

  // The same browser context, with its cookies for the old version.
  await v.goto('/a/after-bump?lang=en');
  await v.shown();
  assert.equal(await v.statsRan(), false, 'consent to the old version grants nothing');
  const shown = await v.waitPost('shown', 2);
  assert.equal(shown.status, 200, `shown after the bump: ${JSON.stringify(shown)}`);
  assert.equal(shown.body.policy_version, V2, 'the banner posts the new version');
  await tabTo(v.page, 'accept_all');
  await v.page.keyboard.press('Enter');
  const accepted = await v.waitPost('accept_all', 2);
  assert.equal(accepted.status, 200, `accept_all after the bump: ${JSON.stringify(accepted)}`);
  assert.equal(accepted.reply.policy_version, V2);
  await v.page.waitForFunction(() => window.statsRan === true, null, { timeout: 5000 });
  assert.equal((await v.cookies()).sezim_vid?.value, vid, 'the visitor id is kept');
  await v.goto('/a/reaccepted?lang=en');

  // The page seen under the old cookie counted anonymously only; the next
  // one is consented again.
  let rows = [];
  await waitFor(async () => {
    rows = await identifiedEvents(`path = '/a/reaccepted'`);
    return rows.length >= 1;
  }, { timeout: 15_000, interval: 250, describe: () => 'the consented row of /a/reaccepted' });
  assert.equal(rows[0].visitor_id, vid);
  assert.equal(rows[0].ip, '127.0.0.0');
  assert.deepEqual(await statsPageviews('/a/after-bump', 1), ['/a/after-bump']);
  assert.equal(await chCount(`SELECT count() FROM ${S.identDB}.events WHERE path = '/a/after-bump'`), 0,
    'a cookie for the old policy version is no consent');

  const log = await consentLog(`policy_version = '${V2}'`, 2);
  assert.deepEqual(log.map((r) => [r.action, r.receipt]), [['shown', shown.reply.receipt], ['accept_all', accepted.reply.receipt]]);
  assert.equal(log[0].policy_hash, sha256(`Sezim e2e privacy policy, version ${V2}`));

  // The restarted collector carried on its chain.
  const r = await runSezim(S.bin, ['verify', 'consent-log', ...S.storeArgs, '--data', path.join(S.tmp, 'data')]);
  assert.equal(r.code, 0, `verify: ${r.stdout}${r.stderr}`);
  assert.match(r.stdout, /consent log verified: 1 chain\(s\), 6 rows/);
  assert.deepEqual(v.errors, [], 'the page threw');
  t.diagnostic(r.stdout.trim());
});

step('ru, kk and en render, each decision logged with its language', async (t) => {
  await mkdir(artifactsDir, { recursive: true });
  const hashes = {};
  for (const lang of ['ru', 'kk', 'en']) {
    const v = await visitor(UA.lang, { ru: 'ru-RU', kk: 'kk-KZ', en: 'en-GB' }[lang]);
    await v.goto(`/l/${lang}?lang=${lang}`);
    await v.shown();
    const dlg = v.page.locator('[role=dialog]');
    assert.equal(await dlg.getAttribute('lang'), lang);
    assert.equal(await v.page.locator('#t1').innerText(), TEXT[lang].title);
    for (const k of ['accept', 'reject', 'settings']) {
      assert.equal(await v.page.getByRole('button', { name: TEXT[lang][k], exact: true }).count(), 1, `${lang} button ${k}`);
    }
    const shown = await v.waitPost('shown');
    assert.equal(shown.status, 200);
    assert.equal(shown.body.lang, lang);
    hashes[lang] = shown.body.text_hash;
    const file = path.join(artifactsDir, `consent-${lang}.png`);
    await v.page.screenshot({ path: file });
    t.diagnostic(`screenshot: ${file}`);
    assert.deepEqual(v.errors, [], 'the page threw');
    await v.context.close();
  }
  assert.equal(new Set(Object.values(hashes)).size, 3, 'three texts, three hashes');
  const log = await consentLog(`action = 'shown' AND receipt != '' AND lang IN ('ru', 'kk')`, 2);
  assert.deepEqual(log.map((r) => [r.lang, r.text_hash]).sort(), [['kk', hashes.kk], ['ru', hashes.ru]]);
  assert.equal((await consentLog(`text_hash = '${hashes.en}'`, 1)).length >= 1, true);
});
