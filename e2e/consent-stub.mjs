// A stand-in for the collector's consent API, for the banner's browser tests
// until (and besides) the real backend: it implements the HTTP contract the
// banner codes against (GET /consent/config, GET /consent/state, POST
// /consent), keeps every choice in memory behind a sezim_consent cookie,
// serves banner.js and the tracker, and serves a test page from a second
// server.
//
// The two host names are same-site (www.site.test and stats.site.test), as
// a site and its collector are in production (sez.im and stats.sez.im), so
// the collector's SameSite=Lax cookie flows with credentialed fetches.
//
// Run alone to poke at it by hand: node e2e/consent-stub.mjs
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
// The minified files are what the Go binary serves, so they are what we test.
export const bannerPath = path.join(here, '..', 'web', 'banner.min.js');
const trackerPath = path.join(here, '..', 'web', 's.min.js');

export const PURPOSES = ['necessary', 'functional', 'statistics', 'identified', 'third_party'];
export const SERVICES = [
  { id: 'yandex_metrica', name: 'Yandex Metrica', purpose: 'third_party', country: 'RU' },
  { id: 'google_analytics', name: 'Google Analytics', purpose: 'third_party', country: 'US' },
];
const ACTIONS = ['shown', 'accept_all', 'reject_all', 'custom', 'withdraw'];
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

// What the page says around the banner, per language.
const PAGE = {
  ru: { h: 'Найдите своего психолога', p: 'Видеоконсультации с проверенными специалистами.', link: 'Настройки cookie' },
  kk: { h: 'Өз психологыңызды табыңыз', p: 'Тексерілген мамандармен бейнекеңестер.', link: 'Cookie баптаулары' },
  en: { h: 'Find your psychologist', p: 'Video consultations with verified specialists.', link: 'Cookie settings' },
};

// The test page. Query: lang=ru|kk|en (default en), defer=1 loads
// banner.js deferred. Each blocked element pushes its name to window.__ran
// when it runs; the third-party ones also set the cookies their services set.
function pageHTML(q, collectorOrigin, siteID) {
  const lang = q.get('lang') || 'en';
  const t = PAGE[lang] || PAGE.en;
  const defer = q.get('defer') === '1' ? ' defer' : '';
  return `<!doctype html>
<html lang="${esc(lang)}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sezim banner test page</title>
<script${defer} src="${esc(collectorOrigin)}/banner.js" data-site="${esc(siteID)}"></script>
<script>
// The first script after the banner: what a Google tag would see.
window.__dataLayerSeen = Array.from(window.dataLayer || [], function (a) { return Array.from(a); });
</script>
<script defer src="${esc(collectorOrigin)}/s.js" data-site="${esc(siteID)}" data-allow-automation></script>
<style>
body { font: 16px/1.6 system-ui, sans-serif; margin: 0; color: #1d2430; background: #f5f3ef; }
header { padding: 18px 32px; background: #fff; border-bottom: 1px solid #e4e1da; font-weight: 700; font-size: 20px; color: #1c5d58; }
main { max-width: 760px; margin: 0 auto; padding: 56px 32px; }
h1 { font-size: 40px; line-height: 1.15; margin: 0 0 16px; overflow-wrap: anywhere; }
@media (max-width: 600px) { main { padding: 32px 20px; } h1 { font-size: 30px; } }
.cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(200px, 1fr)); gap: 16px; margin-top: 32px; }
.cards div { background: #fff; border-radius: 12px; height: 120px; }
footer { padding: 24px 32px; color: #5a6472; }
iframe { width: 200px; height: 60px; border: 0; }
</style>
</head>
<body>
<header>Sezim</header>
<main>
<h1>${esc(t.h)}</h1>
<p>${esc(t.p)}</p>
<div class="cards"><div></div><div></div><div></div></div>
<script type="text/plain" data-purpose="statistics">(window.__ran = window.__ran || []).push('statistics');</script>
<script type="text/plain" data-purpose="functional" src="/ext/functional.js"></script>
<script type="text/plain" data-purpose="third_party" data-service="yandex_metrica">
(window.__ran = window.__ran || []).push('yandex_metrica');
document.cookie = '_ym_uid=1700000000123; path=/; max-age=86400';
document.cookie = '_ym_d=1700000000; path=/; domain=site.test; max-age=86400';
localStorage.setItem('_ym_retryReqs', '{}');
</script>
<script type="text/plain" data-purpose="third_party" data-service="google_analytics">
(window.__ran = window.__ran || []).push('google_analytics');
document.cookie = '_ga=GA1.1.123.456; path=/; domain=site.test; max-age=86400';
</script>
<iframe data-purpose="third_party" data-service="google_analytics" data-src="/frame.html" title="frame"></iframe>
<img data-purpose="statistics" data-src="/px.gif" alt="" width="1" height="1">
</main>
<footer><a href="#" id="consent-link" data-sezim-consent-open>${esc(t.link)}</a></footer>
</body>
</html>
`;
}

function listen(server, port = 0) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve(server.address().port));
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const cookieOf = (req, name) => {
  for (const part of (req.headers.cookie || '').split(';')) {
    const [k, ...v] = part.trim().split('=');
    if (k === name) return v.join('=');
  }
  return '';
};

/**
 * Starts the stub: a page server and the consent collector, each on a
 * random port of 127.0.0.1, reached by the browser as pageHost and
 * collectorHost (browserArgs maps them).
 */
export async function startConsentStub({ siteID = 'test-site', pageHost = 'www.site.test', collectorHost = 'stats.site.test' } = {}) {
  const state = { policyVersion: '2026-11' };
  const records = new Map();
  const log = [];
  const hits = [];
  let pageOrigin = '';
  let collectorOrigin = '';

  const config = () => ({
    policy_version: state.policyVersion,
    purposes: PURPOSES.map((id) => (id === 'necessary' ? { id, required: true } : { id })),
    services: SERVICES,
    texts: {},
    cookies: { yandex_metrica: ['_ym'], google_analytics: ['_ga', '_gid'] },
    policy_url: `${pageOrigin}/privacy`,
    lifetime_days: 183,
  });

  const send = (req, res, status, body, headers = {}) => {
    const origin = req.headers.origin;
    if (origin) {
      // Credentialed requests need the origin echoed, never "*".
      res.setHeader('Access-Control-Allow-Origin', origin);
      res.setHeader('Access-Control-Allow-Credentials', 'true');
      res.setHeader('Vary', 'Origin');
    }
    res.writeHead(status, { 'Cache-Control': 'no-store', ...headers });
    res.end(body);
  };
  const sendJSON = (req, res, status, obj, headers = {}) =>
    send(req, res, status, JSON.stringify(obj), { 'Content-Type': 'application/json', ...headers });

  const current = (req) => {
    const r = records.get(cookieOf(req, 'sezim_consent'));
    if (!r) return null;
    if (Date.parse(r.expires) < Date.now()) return null;
    if (r.policy_version !== state.policyVersion) return { ...r, stale: true };
    return r;
  };

  const problem = (o) => {
    if (!o || typeof o !== 'object') return 'body is not a JSON object';
    if (o.s !== siteID) return 'unknown site';
    if (!ACTIONS.includes(o.action)) return 'bad action';
    if (!Array.isArray(o.purposes) || o.purposes.some((p) => !PURPOSES.includes(p))) return 'bad purposes';
    if (!Array.isArray(o.services) || o.services.some((s) => !SERVICES.some((x) => x.id === s))) return 'bad services';
    if (!['ru', 'kk', 'en'].includes(o.lang)) return 'bad lang';
    if (!/^[0-9a-f]{64}$/.test(o.text_hash || '')) return 'bad text_hash';
    if (o.policy_version !== state.policyVersion) return 'old policy version';
    return '';
  };

  const collector = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      const p = url.pathname;
      if (p === '/banner.js' || p === '/s.js') {
        const js = await readFile(p === '/s.js' ? trackerPath : bannerPath);
        return send(req, res, 200, js, { 'Content-Type': 'text/javascript; charset=utf-8' });
      }
      if (p === '/e' && req.method === 'POST') {
        hits.push({ via: 'beacon', cookie: req.headers.cookie || '', body: await readBody(req) });
        return send(req, res, 204, '');
      }
      if (p === '/p.gif') {
        hits.push({ via: 'pixel', cookie: req.headers.cookie || '', query: url.search });
        return send(req, res, 200, GIF, { 'Content-Type': 'image/gif' });
      }
      if (p === '/consent/config' && req.method === 'GET') {
        if (url.searchParams.get('s') !== siteID) return sendJSON(req, res, 404, { error: 'unknown site' });
        return sendJSON(req, res, 200, config());
      }
      if (p === '/consent/state' && req.method === 'GET') {
        if (url.searchParams.get('s') !== siteID) return sendJSON(req, res, 404, { error: 'unknown site' });
        // As the real collector: a choice for an older policy version is
        // still "valid" (signed, unexpired) but needs a new prompt, and
        // until then grants nothing.
        const r = current(req);
        return sendJSON(req, res, 200, {
          valid: !!r,
          purposes: r ? r.purposes : [],
          services: r ? r.services : [],
          policy_version: r ? r.policy_version : state.policyVersion,
          needs_prompt: !r || !!r.stale,
        });
      }
      if (p === '/consent' && req.method === 'OPTIONS') {
        return send(req, res, 204, '', { 'Access-Control-Allow-Methods': 'POST', 'Access-Control-Allow-Headers': 'Content-Type' });
      }
      if (p === '/consent' && req.method === 'POST') {
        const raw = await readBody(req);
        let o = null;
        try { o = JSON.parse(raw); } catch { /* reported below */ }
        const bad = problem(o);
        log.push({ at: Date.now(), contentType: req.headers['content-type'] || '', cookie: req.headers.cookie || '', body: o, error: bad });
        if (bad) return sendJSON(req, res, 400, { error: bad });
        if (o.action === 'shown') return sendJSON(req, res, 200, { receipt: randomUUID(), purposes: [], services: [], policy_version: state.policyVersion });
        const purposes = [...new Set(['necessary', ...o.purposes])];
        const services = o.services;
        const receipt = randomUUID();
        const expires = new Date(Date.now() + 183 * 86400e3).toISOString();
        records.set(receipt, { purposes, services, policy_version: state.policyVersion, expires });
        const maxAge = 183 * 86400;
        const cookies = [`sezim_consent=${receipt}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`];
        cookies.push(purposes.includes('statistics')
          ? `sezim_vid=${randomUUID().replace(/-/g, '')}; Path=/; Max-Age=${maxAge}; HttpOnly; SameSite=Lax`
          : 'sezim_vid=; Path=/; Max-Age=0; HttpOnly; SameSite=Lax');
        return sendJSON(req, res, 200, { receipt, purposes, services, policy_version: state.policyVersion, expires }, { 'Set-Cookie': cookies });
      }
      // Test hooks, not part of the contract.
      if (p === '/__log') return sendJSON(req, res, 200, log);
      if (p === '/__hits') return sendJSON(req, res, 200, hits);
      if (p === '/__policy' && req.method === 'POST') {
        state.policyVersion = url.searchParams.get('v') || state.policyVersion;
        return sendJSON(req, res, 200, { policy_version: state.policyVersion });
      }
      send(req, res, 404, 'not found');
    } catch (err) {
      send(req, res, 500, String(err.message));
    }
  });

  const pages = createServer((req, res) => {
    const url = new URL(req.url, 'http://x');
    const p = url.pathname;
    if (p === '/ext/functional.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript' });
      return res.end("(window.__ran = window.__ran || []).push('functional-src');");
    }
    if (p === '/frame.html') {
      res.writeHead(200, { 'Content-Type': 'text/html' });
      return res.end('<!doctype html><p>frame</p>');
    }
    if (p === '/px.gif') {
      res.writeHead(200, { 'Content-Type': 'image/gif', 'Cache-Control': 'no-store' });
      return res.end(GIF);
    }
    if (p === '/favicon.ico') {
      res.writeHead(204);
      return res.end();
    }
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(pageHTML(url.searchParams, collectorOrigin, siteID));
  });

  // A real collector only answers origins its site config lists: give the
  // page a fixed port for it with SEZIM_BANNER_PAGE_PORT.
  const [pagePort, collectorPort] = await Promise.all([listen(pages, Number(process.env.SEZIM_BANNER_PAGE_PORT || 0)), listen(collector)]);
  pageOrigin = `http://${pageHost}:${pagePort}`;
  collectorOrigin = process.env.SEZIM_BANNER_COLLECTOR_URL
    ? new URL(process.env.SEZIM_BANNER_COLLECTOR_URL).origin
    : `http://${collectorHost}:${collectorPort}`;
  const external = !!process.env.SEZIM_BANNER_COLLECTOR_URL;
  const hostOf = (o) => new URL(o).hostname;

  return {
    siteID,
    external,
    pageOrigin,
    collectorOrigin,
    pageURL: `${pageOrigin}/page.html`,
    // crypto.subtle exists only in a secure context: plain-http test origins
    // are declared secure, as an https site would be.
    browserArgs: [
      `--host-resolver-rules=MAP ${pageHost} 127.0.0.1, MAP ${hostOf(collectorOrigin)} 127.0.0.1`,
      `--unsafely-treat-insecure-origin-as-secure=${pageOrigin},${collectorOrigin}`,
    ],
    log: () => log.slice(),
    hits: () => hits.slice(),
    /** Sets the policy version the stub serves; null when the target is not the stub. */
    setPolicyVersion: external ? null : (v) => { state.policyVersion = v; },
    close: () => Promise.all([pages, collector].map((s) => new Promise((r) => {
      s.closeAllConnections();
      s.close(() => r());
    }))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const s = await startConsentStub();
  console.log(`page:      ${s.pageURL}\ncollector: ${s.collectorOrigin}\nbrowser:   ${s.browserArgs.join(' ')}`);
}
