// Switching without a rewrite: the real `sezim serve` on the embedded engine
// and a site whose pages run (1) our tracker with data-outbound and
// data-downloads, (2) Plausible's published tracker (npm
// @plausible-analytics/tracker, a devDependency) and (3) Umami's (the
// tracker in npm's `umami` package, fetched with `npm pack` at a pinned
// version and checksum: the package is Umami's whole server, hundreds of
// megabytes of dependencies, so it is no devDependency). Each is loaded the
// way a site loads it, pointed at our collector; the test clicks an
// outbound link, a download, a Plausible and an Umami event, and reads the
// stored pages and events back from the stats API.
//
// Needs the Go toolchain (or SEZIM_BIN), libchdb (CHDB_LIB_PATH) and npm
// for the Umami package; without libchdb the test skips unless CI=true.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { chromium } from 'playwright-core';
import { CHROMIUM_ARGS, repoRoot } from './lib.mjs';
import { buildSezim, chdbLib, freePort, runSezimOK, startServe, waitFor } from './sezim-bin.mjs';

const SITE_ID = 'dropin';
const UMAMI_ID = '94db1cb1-74f4-4a40-ad6c-962362670409';
const UMAMI_PACKAGE = 'umami@2.10.0';
const UMAMI_INTEGRITY = 'sha512-+lmrnV0751R6U2rkIgVAlE1nWI7yZawlMlJDguW9tlFacCKhnGeCyc7tCMIhNNYIiGIQy4DEX5IzJhm4b3+dPA==';
const PLAUSIBLE_JS = path.join(repoRoot, 'e2e', 'node_modules', '@plausible-analytics', 'tracker', 'plausible.js');

// One user agent per visitor (the visitor hash is address and user agent),
// none headless Chromium's own, which the pipeline drops as a robot.
const UA = {
  sezim: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/138.0.0.0 Safari/537.36',
  plausible: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/137.0.0.0 Safari/537.36',
  umami: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/136.0.0.0 Safari/537.36',
};

const exec = promisify(execFile);

/** Umami's tracker source from the pinned npm package, cached in .cache/e2e. */
async function umamiTracker() {
  const dir = path.join(repoRoot, '.cache', 'e2e');
  await mkdir(dir, { recursive: true });
  const tgz = path.join(dir, `${UMAMI_PACKAGE.replace('@', '-')}.tgz`);
  try {
    await access(tgz);
  } catch {
    await exec('npm', ['pack', UMAMI_PACKAGE, '--pack-destination', dir, '--silent'], { maxBuffer: 16 << 20 });
  }
  const sum = `sha512-${createHash('sha512').update(await readFile(tgz)).digest('base64')}`;
  assert.equal(sum, UMAMI_INTEGRITY, `${tgz} is not the pinned ${UMAMI_PACKAGE}`);
  const { stdout } = await exec('tar', ['-xzOf', tgz, 'package/src/tracker/index.js'], { maxBuffer: 1 << 20 });
  assert.match(stdout, /\/api\/send/, 'the Umami tracker posts to /api/send');
  return stdout;
}

/** The sum of every sample of one metric in a Prometheus text exposition. */
function metricSum(text, name) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith(`${name}{`) || line.startsWith(`${name} `)) sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

const page = (title, head, body) => `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${title}</title>
${head}
</head><body><h1>${title}</h1>
${body}
</body></html>
`;

/** The site: one page per tracker, its vendored scripts, and a landing page elsewhere. */
async function startSite(collectorOrigin, umamiJS) {
  const plausibleJS = await readFile(PLAUSIBLE_JS, 'utf8');
  const pages = {
    '/sezim': page('Our tracker',
      `<script defer src="${collectorOrigin}/s.js" data-site="${SITE_ID}" data-allow-automation data-outbound data-downloads></script>`,
      `<p><a id="out" href="http://elsewhere.test:PORT/landing?ref=secret-token">A partner</a></p>
<p><a id="file" href="/files/annual-report.pdf?sig=secret-token">The annual report</a></p>`),
    '/plausible': page('Plausible',
      `<script type="module">
import { init, track } from '/vendor/plausible.js';
init({ domain: 'site.test', endpoint: '${collectorOrigin}/api/event' });
document.getElementById('signup').addEventListener('click', () => track('Signup', { props: { plan: 'a' } }));
</script>`,
      '<button id="signup">Sign up</button>'),
    '/umami': page('Umami',
      `<script defer src="/vendor/umami.js" data-website-id="${UMAMI_ID}" data-host-url="${collectorOrigin}"></script>`,
      '<button id="book" data-umami-event="Book call" data-umami-event-plan="a">Book a call</button>'),
  };
  const server = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const send = (type, body, extra = {}) => {
      res.writeHead(200, { 'Content-Type': type, 'Cache-Control': 'no-store', ...extra });
      res.end(body);
    };
    if (url.pathname === '/vendor/plausible.js') return send('text/javascript', plausibleJS);
    if (url.pathname === '/vendor/umami.js') return send('text/javascript', umamiJS);
    if (url.pathname.startsWith('/files/')) return send('application/pdf', '%PDF-1.4\n', { 'Content-Disposition': 'attachment' });
    if (pages[url.pathname]) return send('text/html; charset=utf-8', pages[url.pathname].replace('PORT', String(server.address().port)));
    res.writeHead(url.pathname === '/favicon.ico' ? 204 : 200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><title>elsewhere</title>');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  return {
    port: server.address().port,
    close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

test('Plausible and Umami trackers, outbound links and downloads reach the store', { timeout: 300_000 }, async (t) => {
  const lib = await chdbLib(t);
  if (!lib) return;
  const umamiJS = await umamiTracker();

  const tmp = await mkdtemp(path.join(os.tmpdir(), 'sezim-dropin-e2e-'));
  const cleanups = [() => rm(tmp, { recursive: true, force: true })];
  let sezim;
  try {
    const bin = await buildSezim(tmp);
    const [pubPort, apiPort, adminPort] = await Promise.all([freePort(), freePort(), freePort()]);
    const collectorOrigin = `http://collector.test:${pubPort}`;
    const site = await startSite(collectorOrigin, umamiJS);
    cleanups.unshift(site.close);
    const pageOrigin = `http://site.test:${site.port}`;
    const config = path.join(tmp, 'sites.yaml');
    await writeFile(config, `trusted_proxies: []
sites:
  - id: ${SITE_ID}
    domains: [site.test]
    origins: ["${pageOrigin}"]
    umami_website_id: ${UMAMI_ID}
    k_threshold: 1 # one visitor per tracker is read back
    disclosure: exact # and read back exactly
    properties: [plan] # the trackers' custom properties
`);
    const store = `chdb://${path.join(tmp, 'chdb')}`;
    const cliEnv = { ...process.env, CHDB_LIB_PATH: lib, SEZIM_STORE: store, SEZIM_CONFIG: config };
    const cli = (args, stdin = '') => runSezimOK(bin, args, { env: cliEnv, stdin });
    await cli(['migrate', 'up']);
    await cli(['user', 'add', '--role', 'admin', 'e2e-admin'], 'a long e2e password\n');
    const token = await cli(['user', 'token', 'add', 'e2e-admin']);

    const admin = `http://127.0.0.1:${adminPort}`;
    sezim = await startServe(bin, [
      '--automigrate', '--store', store, '--config', config, '--data', path.join(tmp, 'data'),
      '--addr', `127.0.0.1:${pubPort}`, '--api-addr', `127.0.0.1:${apiPort}`, '--admin-addr', `127.0.0.1:${adminPort}`,
      '--rollup-interval', '1s', '--flush-interval', '200ms',
    ], { adminOrigin: admin, env: { ...process.env, CHDB_LIB_PATH: lib } });

    const metrics = async () => (await fetch(`${admin}/metrics`)).text();
    const accepted = (n) => waitFor(async () => metricSum(await metrics(), 'sezim_pipeline_events_accepted_total') >= n, {
      timeout: 15_000,
      describe: async () => {
        const m = (await metrics()).split('\n').filter((l) => /^sezim_(pipeline_events|collector_(rejected|requests))/.test(l));
        return `expected ${n} accepted events:\n${m.join('\n')}`;
      },
    });

    const browser = await chromium.launch({
      executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...CHROMIUM_ARGS, '--host-resolver-rules=MAP site.test 127.0.0.1, MAP collector.test 127.0.0.1, MAP elsewhere.test 127.0.0.1'],
    });
    cleanups.unshift(() => browser.close());
    const errors = [];
    const visit = async (userAgent) => {
      const context = await browser.newContext({ userAgent, acceptDownloads: true });
      const p = await context.newPage();
      p.on('pageerror', (e) => errors.push(e.message));
      return { context, page: p };
    };

    // 1. Our tracker: a pageview, then a download and an outbound link.
    const v1 = await visit(UA.sezim);
    await v1.page.goto(`${pageOrigin}/sezim`, { waitUntil: 'load' });
    await v1.page.waitForFunction(() => window.sezim && window.sezim.sz === 1);
    await accepted(1);
    const download = v1.page.waitForEvent('download');
    await v1.page.click('#file');
    await (await download).cancel();
    await accepted(2);
    await v1.page.click('#out');
    await v1.page.waitForURL(/elsewhere\.test/);
    await accepted(3);
    await v1.context.close();

    // 2. Plausible's npm tracker, initialised as its README says, with
    // the endpoint on our collector. It stays silent under automation
    // (navigator.webdriver), as a site's real visitors are not.
    const v2 = await visit(UA.plausible);
    await v2.context.addInitScript(() => Object.defineProperty(Navigator.prototype, 'webdriver', { get: () => false }));
    await v2.page.goto(`${pageOrigin}/plausible`, { waitUntil: 'load' });
    await accepted(4);
    await v2.page.click('#signup');
    await accepted(5);
    await v2.context.close();

    // 3. Umami's tracker, its host URL set to our collector.
    const v3 = await visit(UA.umami);
    await v3.page.goto(`${pageOrigin}/umami`, { waitUntil: 'load' });
    await accepted(6);
    await v3.page.click('#book');
    await accepted(7);
    await v3.context.close();
    assert.deepEqual(errors, [], 'a page threw');

    // The stored numbers, once the rollup has them.
    const api = `http://127.0.0.1:${apiPort}`;
    const breakdown = async (property) => {
      const res = await fetch(`${api}/api/v1/stats/breakdown?site=${SITE_ID}&period=today&property=${property}`, { headers: { Authorization: `Bearer ${token}` } });
      const body = await res.text();
      assert.equal(res.status, 200, `${property}: ${body}`);
      return Object.fromEntries(JSON.parse(body).results.map((r) => [r.value, r.visitors]));
    };
    const wantEvents = {
      'File download: /files/annual-report.pdf': 1,
      'Outbound link: elsewhere.test': 1,
      Signup: 1,
      'Book call': 1,
    };
    let events;
    await waitFor(async () => {
      events = await breakdown('event');
      return JSON.stringify(Object.entries(events).sort()) === JSON.stringify(Object.entries(wantEvents).sort());
    }, { timeout: 30_000, interval: 500, describe: () => `events never became ${JSON.stringify(wantEvents)}; last: ${JSON.stringify(events)}` });
    assert.deepEqual(await breakdown('page'), { '/sezim': 1, '/plausible': 1, '/umami': 1 }, 'one visitor per tracker');

    // Their custom properties (Plausible's props, Umami's data-umami-event-*)
    // take the tracker's path: the plan of both events.
    assert.deepEqual(await breakdown('prop:plan'), { a: 2 });
    const m = await metrics();
    assert.doesNotMatch(m, /^sezim_collector_dropin_discarded_total\{[^}]*what="props"/m);
    assert.ok(!m.includes('secret-token'), 'a query value reached /metrics');

    const st = await sezim.stop();
    assert.deepEqual(st, { code: 0, signal: null }, 'sezim serve exits cleanly on SIGTERM');
  } catch (err) {
    if (sezim) {
      await sezim.stop(5000);
      console.error(`--- sezim serve stderr ---\n${sezim.out.stderr}--- end ---`);
    }
    throw err;
  } finally {
    if (sezim) await sezim.stop(5000);
    for (const c of cleanups) {
      try { await c(); } catch { /* best effort */ }
    }
  }
});
