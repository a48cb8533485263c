// The whole product, as a site developer uses it: the real `sezim serve`
// binary on the embedded engine, a site on another origin that embeds the
// tracker, three visitors (two browsers, one <noscript> pixel), and the
// numbers read back from the stats API after the rollup.
//
// Needs the Go toolchain (or SEZIM_BIN) and libchdb (CHDB_LIB_PATH, default
// .cache/chdb/libchdb.so: `make chdb`). Without the library the test skips,
// unless CI=true, where it fails.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, screenshot } from './lib.mjs';
import { buildSezim, chdbLib, freePort, runSezimOK, sleep, startServe, waitFor } from './sezim-bin.mjs';

const SITE_ID = 'e2e';
const TIMEZONE = 'Asia/Almaty';

// The visitor hash is made from the address and the user agent: every
// visitor here comes from 127.0.0.1, so each needs a user agent of its own.
// None may be headless Chromium's own ("HeadlessChrome"), which the
// pipeline drops as a robot.
const UA_CHROME = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36';
const UA_FIREFOX = 'Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:139.0) Gecko/20100101 Firefox/139.0';
const UA_SAFARI = 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/18.5 Safari/605.1.15';

/** The sum of every sample of one metric in a Prometheus text exposition. */
function metricSum(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) {
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
  }
  return sum;
}

const metricLines = (text, prefix) => text.split('\n').filter((l) => l.startsWith(prefix)).join('\n');

// The site: every path answers the app, as an SPA server does. The page
// embeds the tracker exactly as web/noscript.md tells a site to, plus the
// queue snippet. The signup call is rendered only on the page a signup
// leads to (/?welcome=1, still the path "/"), as a real site would, so the
// second visitor, who only looks, sends no event.
function sitePage(collectorOrigin, welcome) {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sezim e2e site</title>
<script>
window.sezim = window.sezim || function(){(window.sezim.q = window.sezim.q || []).push(arguments)};
${welcome ? "sezim('signup', {plan: 'a'});" : ''}
</script>
<script defer src="${collectorOrigin}/s.js" data-site="${SITE_ID}" data-allow-automation></script>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem; color: #1d2430; }
button { font: inherit; margin-right: .5rem; padding: .4rem .9rem; }
#where { color: #56607a; }
</style>
</head>
<body>
<noscript><img src="${collectorOrigin}/p.gif?s=${SITE_ID}" alt="" width="1" height="1" style="position:absolute;left:-9999px"></noscript>
<h1>Sezim e2e site</h1>
<p id="where"></p>
<p>
<button id="to-pricing" onclick="history.pushState(null, '', '/pricing')">Pricing</button>
<button id="to-about" onclick="history.pushState(null, '', '/about')">About</button>
</p>
<script>
setInterval(function () { document.getElementById('where').textContent = location.href; }, 50);
</script>
</body>
</html>
`;
}

async function startSite(collectorOrigin) {
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    if (url.pathname === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(sitePage(collectorOrigin, url.searchParams.get('welcome') === '1'));
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}


test('a site with the real collector: browsers and a pixel counted, read back from the stats API', { timeout: 240_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-site-e2e-'));
  const cleanups = [() => rm(tmp, { recursive: true, force: true })];
  let sezim;
  try {
    // 1. The binary.
    const builtAt = Date.now();
    const bin = await buildSezim(tmp);
    t.diagnostic(`binary ready: ${Date.now() - builtAt} ms`);

    // 2. The site, the ports and the configuration.
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const collectorOrigin = `http://collector.test:${pubPort}`;
    const site = await startSite(collectorOrigin);
    cleanups.unshift(site.close);
    const pageOrigin = `http://site.test:${site.port}`;
    const config = path.join(tmp, 'sites.yaml');
    await writeFile(config, `trusted_proxies: []
sites:
  - id: ${SITE_ID}
    domains: [site.test]
    origins: ["${pageOrigin}"]
    timezone: ${TIMEZONE}
    k_threshold: 1 # three visitors are read back one by one; e2e/dashboard.test.mjs tests k
    disclosure: exact
`);
    // The stats API needs sign-in: an admin account and its API token,
    // made before serve opens the embedded store (one process at a time).
    const cliEnv = { ...process.env, CHDB_LIB_PATH: lib, SEZIM_STORE: `chdb://${path.join(tmp, 'chdb')}`, SEZIM_CONFIG: config };
    const cli = (args, stdin = '') => runSezimOK(bin, args, { env: cliEnv, stdin });
    await cli(['migrate', 'up']);
    await cli(['user', 'add', '--role', 'admin', 'e2e-admin'], 'a long e2e password\n');
    const token = await cli(['user', 'token', 'add', 'e2e-admin']);

    // 3. The collector.
    const api = `http://127.0.0.1:${apiPort}`;
    const admin = `http://127.0.0.1:${adminPort}`;
    const began = Date.now();
    sezim = await startServe(bin, [
      '--automigrate',
      '--store', `chdb://${path.join(tmp, 'chdb')}`,
      '--config', config,
      '--data', path.join(tmp, 'data'),
      '--addr', `127.0.0.1:${pubPort}`,
      '--api-addr', `127.0.0.1:${apiPort}`,
      '--admin-addr', `127.0.0.1:${adminPort}`,
      '--rollup-interval', '1s',
      '--flush-interval', '200ms',
    ], { adminOrigin: admin, env: { ...process.env, CHDB_LIB_PATH: lib } });
    t.diagnostic(`sezim ready after ${Date.now() - began} ms`);

    const metrics = async () => (await fetch(`${admin}/metrics`)).text();
    // Every sent event is waited for here, so each step starts once the
    // previous one has been taken (a beacon leaves after the page's code).
    const accepted = (n) => waitFor(async () => metricSum(await metrics(), 'sezim_pipeline_events_accepted_total') >= n, {
      timeout: 15_000,
      describe: async () => {
        const m = await metrics();
        return `expected ${n} accepted events:\n${metricLines(m, 'sezim_pipeline_events_')}\n${metricLines(m, 'sezim_collector_')}`;
      },
    });

    // 4-5. The visitors.
    const browser = await chromium.launch({
      executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP site.test 127.0.0.1, MAP collector.test 127.0.0.1'],
    });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const visit = async (userAgent, locale) => {
      const context = await browser.newContext({ userAgent, locale });
      const page = await context.newPage();
      page.on('pageerror', (e) => errors.push(e.message));
      return { context, page };
    };
    const noCookies = async (context, who) => {
      const cookies = await context.cookies([pageOrigin, collectorOrigin]);
      assert.deepEqual(cookies, [], `${who} was given cookies`);
    };

    // Visitor 1 signs up on "/", then goes to /pricing and /about in the app.
    const v1 = await visit(UA_CHROME, 'en-US');
    await v1.page.goto(`${pageOrigin}/?welcome=1`, { waitUntil: 'load' });
    await v1.page.waitForFunction(() => window.sezim && window.sezim.sz === 1);
    await accepted(2); // the pageview and the queued signup
    await v1.page.click('#to-pricing');
    await accepted(3);
    await v1.page.click('#to-about');
    await accepted(4);
    assert.equal(await v1.page.evaluate(() => location.pathname), '/about');
    await screenshot(v1.page, 'site-page');
    await noCookies(v1.context, 'visitor 1');
    await v1.context.close();

    // Visitor 2 looks at "/" only.
    const v2 = await visit(UA_FIREFOX, 'de-DE');
    await v2.page.goto(`${pageOrigin}/`, { waitUntil: 'load' });
    await v2.page.waitForFunction(() => window.sezim && window.sezim.sz === 1);
    await accepted(5);
    await noCookies(v2.context, 'visitor 2');
    await v2.context.close();
    assert.deepEqual(errors, [], 'the page threw');

    // Visitor 3 has no JavaScript: the <noscript> pixel, as a browser loads it.
    const px = await fetch(`http://127.0.0.1:${pubPort}/p.gif?s=${SITE_ID}`, {
      headers: {
        'User-Agent': UA_SAFARI,
        Accept: 'image/*',
        'Accept-Language': 'kk-KZ,kk;q=0.9,ru;q=0.8',
        Referer: `${pageOrigin}/`,
      },
    });
    assert.equal(px.status, 200, `pixel: X-Sezim-Reason ${px.headers.get('x-sezim-reason')}`);
    assert.equal(px.headers.get('content-type'), 'image/gif');
    assert.equal(px.headers.get('x-sezim-reason'), null);
    assert.equal(px.headers.get('set-cookie'), null);
    await px.arrayBuffer();
    await accepted(6);

    // 6. The numbers, once the rollup has them.
    const getJSON = async (p) => {
      const res = await fetch(`${api}${p}`, { headers: { Authorization: `Bearer ${token}` } });
      const body = await res.text();
      assert.equal(res.status, 200, `GET ${p}: ${body}`);
      return JSON.parse(body);
    };
    const want = { visitors: 3, visits: 3, pageviews: 5, events: 1 };
    const pick = (m) => ({ visitors: m.visitors, visits: m.visits, pageviews: m.pageviews, events: m.events });
    const aggregatePath = `/api/v1/stats/aggregate?site=${SITE_ID}&period=today`;
    let agg;
    const rolled = Date.now();
    await waitFor(async () => {
      agg = await getJSON(aggregatePath);
      return JSON.stringify(pick(agg.results)) === JSON.stringify(want);
    }, { timeout: 30_000, interval: 500, describe: () => `aggregate never became ${JSON.stringify(want)}; last: ${JSON.stringify(agg)}` });
    t.diagnostic(`aggregates complete ${Date.now() - rolled} ms after the last event`);
    // A later recomputation of the same day must not count anything twice.
    await sleep(2500);
    agg = await getJSON(aggregatePath);
    assert.deepEqual(pick(agg.results), want, 'the aggregate after one more rollup');
    assert.equal(agg.site, SITE_ID);
    const today = new Intl.DateTimeFormat('en-CA', { timeZone: TIMEZONE }).format(new Date());
    assert.deepEqual(agg.range, { from: today, to: today }, `"today" is the day in ${TIMEZONE}`);

    const realtime = await getJSON(`/api/v1/stats/realtime?site=${SITE_ID}`);
    assert.equal(realtime.visitors, 3, 'realtime visitors, from the raw events');

    const pages = await getJSON(`/api/v1/stats/breakdown?site=${SITE_ID}&period=today&property=page`);
    const byPage = Object.fromEntries(pages.results.map((r) => [r.value, { visitors: r.visitors, pageviews: r.pageviews }]));
    assert.deepEqual(byPage, {
      '/': { visitors: 3, pageviews: 3 },
      '/pricing': { visitors: 1, pageviews: 1 },
      '/about': { visitors: 1, pageviews: 1 },
    }, `page breakdown: ${JSON.stringify(pages.results)}`);

    const events = await getJSON(`/api/v1/stats/breakdown?site=${SITE_ID}&period=today&property=event`);
    const byEvent = Object.fromEntries(events.results.map((r) => [r.value, { visitors: r.visitors, events: r.events }]));
    assert.deepEqual(byEvent, { signup: { visitors: 1, events: 1 } }, `event breakdown: ${JSON.stringify(events.results)}`);

    // The operator's metrics count, and name no visitor.
    const m = await metrics();
    assert.match(m, /^sezim_pipeline_events_accepted_total\{/m);
    for (const secret of ['127.0.0.1', UA_CHROME, UA_FIREFOX, UA_SAFARI, 'Firefox/139', 'Safari/605', 'site.test']) {
      assert.ok(!m.includes(secret), `/metrics contains ${JSON.stringify(secret)}`);
    }

    // A clean shutdown: SIGTERM, buffered events written, exit 0.
    const st = await sezim.stop();
    assert.deepEqual(st, { code: 0, signal: null }, 'sezim serve exits cleanly on SIGTERM');
  } catch (err) {
    if (sezim) {
      await sezim.stop(5000);
      console.error(`--- sezim serve stdout ---\n${sezim.out.stdout}\n--- sezim serve stderr ---\n${sezim.out.stderr}--- end ---`);
    }
    throw err;
  } finally {
    if (sezim) await sezim.stop(5000);
    for (const c of cleanups) {
      try { await c(); } catch { /* best effort */ }
    }
  }
});
