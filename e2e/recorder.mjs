// A stand-in collector for the browser tests, until (and besides) the real
// Go collector: it serves the tracker, records every beacon and pixel it
// gets, and serves a test page from a second port, because a real site and
// its collector are never the same origin.
//
// Run alone to poke at it by hand: node e2e/recorder.mjs
import { createServer } from 'node:http';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
// The minified file is what the Go binary serves, so it is what we test.
export const trackerPath = path.join(here, '..', 'web', 's.min.js');

// The smallest transparent GIF: the body every pixel answers with.
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const MAX_BODY = 64 << 10;

const attrEscape = (s) => String(s).replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');

// The test page. Query parameters select the variants the tests need:
//   site=ID      data-site (default: the recorder's site id)
//   auto=0       leave out data-allow-automation
//   strict=1     leave out data-allow-localhost
//   hash=1       data-hash="true"
//   api=1        load s.js from the page's own origin, point data-api at the collector
//   outbound=1   data-outbound, and the links below
//   downloads=X  data-downloads="X" (X=true: the default list), and the links below
// The navigation buttons keep location.search, so every hit of one test
// carries that test's token (utm_content=..., a parameter the tracker sends)
// and tests never see each other's hits.
function pageHTML(q, collectorOrigin, pageOrigin, defaultSite) {
  const attrs = [`data-site="${attrEscape(q.get('site') || defaultSite)}"`];
  if (q.get('auto') !== '0') attrs.push('data-allow-automation');
  if (q.get('strict') !== '1') attrs.push('data-allow-localhost');
  if (q.get('hash') === '1') attrs.push('data-hash="true"');
  if (q.get('outbound') === '1') attrs.push('data-outbound');
  if (q.has('downloads')) attrs.push(`data-downloads="${attrEscape(q.get('downloads'))}"`);
  // Links of every kind the tracker tells apart; the page stays put when
  // one is clicked, so a test can click them all.
  const links = !q.has('downloads') && q.get('outbound') !== '1' ? '' : `<p>
<a id="out" href="http://elsewhere.example:8080/landing/page?token=secret-token#frag">outbound</a>
<a id="out-file" href="https://files.example/get/Guide.DOCX?sig=secret-token">outbound file</a>
<a id="file" href="/files/annual%20report.pdf?sig=secret-token">pdf</a>
<a id="marked" href="/export?format=csv&amp;token=secret-token" download>download attribute</a>
<a id="song" href="/media/song.mp3">mp3</a>
<a id="inside" href="/about?token=secret-token">same host</a>
<a id="mail" href="mailto:anna@mail.kz">mail</a>
<a id="nested" href="http://nested.example/"><span id="nested-child">nested</span></a>
</p>
<script>['click', 'auxclick'].forEach(function (t) { document.addEventListener(t, function (e) { if (e.target.closest('a')) e.preventDefault(); }); });</script>`;
  let src = `${collectorOrigin}/s.js`;
  if (q.get('api') === '1') {
    src = `${pageOrigin}/s.js`;
    attrs.push(`data-api="${attrEscape(collectorOrigin)}"`);
  }
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Sezim tracker test page</title>
<script>
window.sezim = window.sezim || function(){(window.sezim.q = window.sezim.q || []).push(arguments)};
sezim('signup', {plan: 'a'});
</script>
<script defer src="${attrEscape(src)}" ${attrs.join(' ')}></script>
<style>
body { font: 16px/1.5 system-ui, sans-serif; margin: 2rem; color: #1d2430; }
button { font: inherit; margin-right: .5rem; padding: .4rem .9rem; }
#where { color: #56607a; }
</style>
</head>
<body>
<h1>Sezim tracker test page</h1>
<p id="where"></p>
${links}
<p>
<button id="to-a" onclick="history.pushState(null, '', '/a' + location.search)">pushState /a</button>
<button id="to-b" onclick="history.pushState(null, '', '/b' + location.search)">pushState /b</button>
<button id="to-c" onclick="history.replaceState(null, '', '/c' + location.search)">replaceState /c</button>
<button id="same" onclick="history.replaceState(null, '', location.pathname + (location.search ? location.search + '&amp;x=1' : '?x=1'))">replaceState same path</button>
<button id="hash" onclick="location.hash = 'section'">hash #section</button>
</p>
<script>
// Shows the current URL in the screenshot; refreshed on every history change.
setInterval(function () { document.getElementById('where').textContent = location.href; }, 50);
</script>
</body>
</html>
`;
}

function listen(server) {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server.address().port));
  });
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    let size = 0;
    req.on('data', (c) => {
      size += c.length;
      if (size > MAX_BODY) {
        reject(new Error('body too large'));
        req.destroy();
        return;
      }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

// Answers CORS for the page's origin the way the real collector must: the
// origin echoed (not "*"), with credentials, because sendBeacon always sends
// in "include" mode and a wildcard is refused with credentials.
function cors(req, res) {
  const origin = req.headers.origin;
  if (!origin) return;
  res.setHeader('Access-Control-Allow-Origin', origin);
  res.setHeader('Access-Control-Allow-Credentials', 'true');
  res.setHeader('Vary', 'Origin');
}

async function serveTracker(res) {
  const js = await readFile(trackerPath);
  res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store' });
  res.end(js);
}

/**
 * Starts the recorder: the page server and the collector, each on its own
 * random port on 127.0.0.1.
 *
 * pageHost and collectorHost are the names the browser uses for them (the
 * browser maps them to 127.0.0.1); by default both are 127.0.0.1, which are
 * still two origins because the ports differ.
 */
export async function startRecorder({ siteID = 'test-site', pageHost = '127.0.0.1', collectorHost = '127.0.0.1' } = {}) {
  const hits = [];
  let seq = 0;
  let pageOrigin = '';
  let collectorOrigin = '';

  const record = (hit) => hits.push({ seq: ++seq, at: Date.now(), ...hit });

  const collector = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      const common = {
        origin: req.headers.origin || '',
        cookie: req.headers.cookie || '',
        userAgent: req.headers['user-agent'] || '',
      };
      if (url.pathname === '/s.js' && req.method === 'GET') return await serveTracker(res);
      if (url.pathname === '/e' && req.method === 'OPTIONS') {
        // Not used by text/plain beacons; here so a JSON fetch would work too.
        cors(req, res);
        res.writeHead(204, {
          'Access-Control-Allow-Methods': 'POST',
          'Access-Control-Allow-Headers': 'Content-Type',
          'Access-Control-Max-Age': '86400',
        });
        return res.end();
      }
      if (url.pathname === '/e' && req.method === 'POST') {
        const body = await readBody(req);
        let data = null;
        try { data = JSON.parse(body); } catch { /* recorded as malformed: data stays null */ }
        record({ via: 'beacon', contentType: req.headers['content-type'] || '', body, data, ...common });
        cors(req, res);
        res.writeHead(204);
        return res.end();
      }
      if (url.pathname === '/p.gif' && req.method === 'GET') {
        const data = Object.fromEntries(url.searchParams);
        record({ via: 'pixel', query: url.search, data, ...common });
        res.writeHead(200, { 'Content-Type': 'image/gif', 'Cache-Control': 'no-store', 'Content-Length': GIF.length });
        return res.end(GIF);
      }
      if (url.pathname === '/__hits') {
        res.setHeader('Access-Control-Allow-Origin', '*');
        if (req.method === 'DELETE') {
          hits.length = 0;
          res.writeHead(204);
          return res.end();
        }
        res.writeHead(200, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
        return res.end(JSON.stringify(hits));
      }
      res.writeHead(404);
      res.end();
    } catch (err) {
      res.writeHead(400);
      res.end(String(err.message));
    }
  });

  const pages = createServer(async (req, res) => {
    try {
      const url = new URL(req.url, 'http://x');
      // s.js from the page's own origin is the data-api case (a site that
      // self-hosts the script but posts to the collector).
      if (url.pathname === '/s.js') return await serveTracker(res);
      if (url.pathname === '/favicon.ico') {
        res.writeHead(204);
        return res.end();
      }
      // Every other path is the app, as an SPA server would answer after a reload.
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end(pageHTML(url.searchParams, collectorOrigin, pageOrigin, siteID));
    } catch (err) {
      res.writeHead(500);
      res.end(String(err.message));
    }
  });

  const [pagePort, collectorPort] = await Promise.all([listen(pages), listen(collector)]);
  pageOrigin = `http://${pageHost}:${pagePort}`;
  collectorOrigin = `http://${collectorHost}:${collectorPort}`;

  return {
    siteID,
    pageOrigin,
    collectorOrigin,
    pageURL: `${pageOrigin}/page.html`,
    // The same page on the loopback address, for the localhost checks.
    loopbackPageURL: `http://127.0.0.1:${pagePort}/page.html`,
    hitsURL: `http://127.0.0.1:${collectorPort}/__hits`,
    hits: () => hits.slice(),
    close: () => Promise.all([pages, collector].map((s) => new Promise((r) => {
      s.closeAllConnections();
      s.close(() => r());
    }))),
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const r = await startRecorder();
  console.log(`page:      ${r.pageURL}\ncollector: ${r.collectorOrigin}\nhits:      ${r.hitsURL}`);
}
