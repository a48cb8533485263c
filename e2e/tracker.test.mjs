// The tracker (web/s.min.js, the bytes the collector serves) in a real
// browser: what it sends, when, and what it leaves behind (nothing).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { startBrowser, startTarget, collectorHits, waitForHits, screenshot } from './lib.mjs';

// An outside page the visitor "came from"; http so that the default
// referrer policy keeps it (https to http would drop it).
const REFERRER = 'http://search.example/';

let target;
before(async () => { target = await startTarget(); });
after(async () => { await target?.close(); });

const isPageview = (h) => h.ev.n === undefined;
const pathOf = (u) => new URL(u).pathname + new URL(u).hash;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/**
 * Opens the target page in a fresh browser. Every hit it causes carries a
 * token of its own in utm_content, one of the few query parameters the
 * tracker sends (the test page's links keep the query), so a test only ever
 * sees its own hits. query selects a page variant of the recorder (or adds
 * parameters the tracker must drop or keep); hash is the fragment to land
 * on; init runs in the page before any of its scripts (a function or a list).
 */
async function open(t, { query = {}, hash = '', init = [], base = target.pageURL } = {}) {
  if (target.external && (Object.keys(query).length || base !== target.pageURL)) {
    t.skip('needs a page variant that only the recorder serves');
    return null;
  }
  const token = randomUUID().slice(0, 8);
  const url = new URL(base);
  url.searchParams.set('utm_content', token);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  url.hash = hash;
  // What the tracker sends for a path of this page when the query holds
  // nothing else it keeps.
  const sent = (p) => `${url.origin}${p}?utm_content=${token}`;

  const b = await startBrowser({ args: target.browserArgs });
  const errors = [];
  b.page.on('pageerror', (e) => errors.push(e.message));
  t.after(async () => {
    await b.close();
    // The tracker must never throw into the page, whatever the test did.
    assert.deepEqual(errors, [], 'the page threw');
  });
  for (const f of [init].flat()) await b.context.addInitScript(f);
  await b.page.goto(url.href, { referer: REFERRER, waitUntil: 'load' });
  // The real function replaces the queue stub once the script has run.
  await b.page.waitForFunction(() => window.sezim && window.sezim.sz === 1);

  const mine = (h) => typeof h.ev.u === 'string' && h.ev.u.includes(`utm_content=${token}`);
  return {
    ...b,
    token,
    url: url.href,
    sent: sent(url.pathname),
    sentFor: sent,
    mine,
    wait: (n, match = () => true) => waitForHits(target, (h) => mine(h) && match(h), n),
    all: async () => (await collectorHits(target)).filter(mine),
  };
}

test('a pageview on load carries the wire fields and nothing else', async (t) => {
  const p = await open(t);
  const [pv] = await p.wait(1, isPageview);
  const seen = await p.page.evaluate(() => ({
    w: screen.width, l: navigator.language, r: document.referrer,
  }));
  assert.equal(seen.r, REFERRER, 'the browser kept the referrer (else this test proves little)');
  assert.equal(pv.via, 'beacon');
  assert.match(pv.contentType, /^text\/plain/);
  assert.deepEqual(pv.fields, ['l', 'r', 's', 'u', 'w'], 'no identifier, no name, no props');
  assert.deepEqual(pv.ev, { s: target.siteID, u: p.sent, r: REFERRER, w: seen.w, l: seen.l });
  assert.equal(pv.origin, target.pageOrigin, 'cross-origin beacon names the page origin');
});

test('calls queued before load are replayed with props; later calls go straight out', async (t) => {
  const p = await open(t);
  const [ev] = await p.wait(1, (h) => h.ev.n === 'signup');
  assert.equal(ev.via, 'beacon');
  assert.deepEqual(ev.ev.p, { plan: 'a' });
  assert.equal(ev.ev.u, p.sent);
  assert.equal(ev.ev.r, REFERRER);

  await p.page.evaluate(() => window.sezim('booked', { kind: 'video', n: 2 }));
  const [later] = await p.wait(1, (h) => h.ev.n === 'booked');
  assert.deepEqual(later.ev.p, { kind: 'video', n: 2 });
  // A call without props sends no p at all; nonsense calls send nothing and do not throw.
  await p.page.evaluate(() => { window.sezim('plain'); window.sezim(); window.sezim('', {}); });
  const [plain] = await p.wait(1, (h) => h.ev.n === 'plain');
  assert.deepEqual(plain.fields, ['l', 'n', 'r', 's', 'u', 'w']);

  const all = await p.all();
  assert.equal(all.filter(isPageview).length, 1, 'one pageview, however many events');
  assert.equal(all.length, 4);
});

test('pushState gives one pageview per new path, with the URL left as referrer', async (t) => {
  const p = await open(t);
  await p.wait(1, isPageview);
  await p.page.click('#to-a');
  const [a] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/a');
  await p.page.click('#to-b');
  const [b] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/b');

  assert.equal(a.ev.r, p.sent);
  assert.equal(a.ev.u, p.sentFor('/a'));
  assert.equal(b.ev.r, a.ev.u);
  assert.equal(b.ev.u, p.sentFor('/b'));
  // Pushing the path we are on is not a new page.
  await p.page.click('#to-b');
  await p.page.click('#to-c'); // replaceState to a new path is
  const [c] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/c');
  assert.equal(c.ev.r, b.ev.u);
  assert.deepEqual((await p.all()).filter(isPageview).map((h) => pathOf(h.ev.u)), ['/page.html', '/a', '/b', '/c']);
});

test('hash changes and same-path replaceState send nothing; popstate does', async (t) => {
  const p = await open(t);
  await p.wait(1, isPageview);
  await p.page.click('#hash');
  await p.page.waitForFunction(() => location.hash === '#section');
  await p.page.click('#same');
  await p.page.waitForFunction(() => location.search.includes('x=1'));
  const left = await p.page.evaluate(() => location.href);
  // A navigation that does count, queued after the ones that must not: once
  // it has arrived, anything the others sent would have too.
  await p.page.click('#to-b');
  const [b] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/b');
  await sleep(200);
  assert.deepEqual((await p.all()).filter(isPageview).map((h) => pathOf(h.ev.u)), ['/page.html', '/b']);
  assert.match(left, /&x=1$/);
  assert.equal(b.ev.r, p.sent, 'the referrer is the URL just left, without the parameters it does not keep');

  // Back to the entry that replaceState left (/page.html?...&x=1).
  await p.page.evaluate(() => history.back());
  const views = await p.wait(2, (h) => isPageview(h) && pathOf(h.ev.u) === '/page.html');
  assert.equal(views[1].ev.u, p.sent);
  assert.equal(views[1].ev.r, b.ev.u);
  await sleep(200);
  assert.equal((await p.all()).filter(isPageview).length, 3);
});

test('data-hash="true" counts hash routes as pages', async (t) => {
  const p = await open(t, { query: { hash: '1' } });
  if (!p) return;
  await p.wait(1, isPageview);
  await p.page.click('#hash');
  const [h] = await p.wait(1, (x) => isPageview(x) && pathOf(x.ev.u) === '/page.html#section');
  assert.equal(h.ev.u, `${p.sent}#section`, 'data-hash keeps the hash, and only the kept parameters');
  assert.equal(h.ev.r, p.sent);
  await sleep(200);
  // popstate and hashchange both fire for one hash change: still one pageview.
  assert.equal((await p.all()).filter(isPageview).length, 2);
});

test('falls back to the pixel when sendBeacon is missing', async (t) => {
  const p = await open(t, { init: () => { delete Navigator.prototype.sendBeacon; } });
  const [pv] = await p.wait(1, isPageview);
  const seen = await p.page.evaluate(() => ({ w: screen.width, l: navigator.language, gone: !('sendBeacon' in navigator) }));
  assert.ok(seen.gone);
  assert.equal(pv.via, 'pixel');
  assert.deepEqual(pv.fields, ['l', 'r', 's', 'u', 'w']);
  assert.deepEqual(pv.ev, { s: target.siteID, u: p.sent, r: REFERRER, w: seen.w, l: seen.l });

  const [ev] = await p.wait(1, (h) => h.ev.n === 'signup');
  assert.equal(ev.via, 'pixel');
  assert.deepEqual(ev.fields, ['l', 'n', 'r', 's', 'u', 'w'], 'a pixel carries no props');

  await p.page.click('#to-a');
  const [a] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/a');
  assert.equal(a.via, 'pixel');
  assert.equal(a.ev.r, p.sent);
});

// A page URL may hold a session token or an e-mail address (a sign-in link,
// an OAuth redirect), and a pixel's URL lands in every proxy's log: of the
// query only the campaign tags and the fact of an ad click leave the page,
// of the fragment nothing, of an outside referrer its scheme, host and path.
test('sends neither the rest of the query nor the fragment, by beacon or by pixel', async (t) => {
  // A referring site with a lax referrer policy would hand over its full
  // URL; the browser here trims a cross-site one to the origin, so the page
  // is given one as such a site would.
  const fullReferrer = () => Object.defineProperty(Document.prototype, 'referrer', {
    get: () => 'http://user:pw@search.example/landing?q=secret#frag',
  });
  const query = {
    token: 'secret', email: 'anna@mail.kz',
    utm_source: 'News', utm_medium: 'email', utm_campaign: 'spring sale', utm_id: 'cmp7',
    gclid: 'EAIaIQclick', fbclid: 'IwARclick', msclkid: '',
  };
  // Nothing of these may appear in any byte sent (msclkid: an empty click id
  // is no click, as the server reads it).
  const leaks = ['secret', 'anna', 'mail.kz', 'access_token', 'EAIaIQ', 'IwAR', 'fbclid', 'cmp7', 'utm_id', 'msclkid', 'user', 'pw', 'frag'];
  for (const via of ['beacon', 'pixel']) {
    await t.test(via, async (t) => {
      const init = [fullReferrer];
      if (via === 'pixel') init.push(() => { delete Navigator.prototype.sendBeacon; });
      const p = await open(t, { query, hash: '#access_token=x', init });
      if (!p) return;
      const [pv] = await p.wait(1, isPageview);
      const [ev] = await p.wait(1, (h) => h.ev.n === 'signup');
      const had = await p.page.evaluate(() => location.href + ' ' + document.referrer);
      for (const s of ['secret', 'anna%40mail.kz', 'access_token', 'EAIaIQ', 'q=secret']) {
        assert.ok(had.includes(s), `the page had ${s} (else this test proves little)`);
      }
      await p.page.click('#to-a');
      const [a] = await p.wait(1, (h) => isPageview(h) && pathOf(h.ev.u) === '/a');

      const kept = '&utm_source=News&utm_medium=email&utm_campaign=spring%20sale&gclid=1';
      assert.equal(pv.ev.u, p.sent + kept, 'utm_* and the fact of a click, in page order');
      assert.equal(pv.ev.r, 'http://search.example/landing');
      assert.equal(ev.ev.u, p.sent + kept);
      assert.equal(a.ev.u, p.sentFor('/a') + kept);
      assert.equal(a.ev.r, pv.ev.u, 'an in-app referrer is the URL left, as it was sent');
      const all = await p.all();
      assert.equal(all.length, 3);
      for (const h of all) {
        assert.equal(h.via, via);
        const raw = via === 'beacon' ? h.body : h.query;
        assert.ok(raw.length > 0, 'the recorder kept the raw request');
        for (const s of leaks) assert.ok(!raw.includes(s), `${h.via} sent ${s}: ${raw}`);
      }
    });
  }
});

test('falls back to the pixel when sendBeacon refuses or throws', async (t) => {
  for (const init of [
    () => { Navigator.prototype.sendBeacon = () => false; },
    () => { Navigator.prototype.sendBeacon = () => { throw new TypeError('blocked'); }; },
  ]) {
    const p = await open(t, { init });
    const [pv] = await p.wait(1, isPageview);
    assert.equal(pv.via, 'pixel');
  }
});

test('data-api sends to its origin, not the script\'s', async (t) => {
  const p = await open(t, { query: { api: '1' } });
  if (!p) return;
  const src = await p.page.evaluate(() => document.querySelector('script[data-site]').src);
  assert.ok(src.startsWith(target.pageOrigin), 'the script came from the page origin');
  const [pv] = await p.wait(1, isPageview);
  assert.equal(pv.via, 'beacon');
});

test('sends nothing to automation without data-allow-automation', async (t) => {
  const p = await open(t, { query: { auto: '0' } });
  if (!p) return;
  assert.equal(await p.page.evaluate(() => navigator.webdriver), true);
  await p.page.evaluate(() => window.sezim('after', { x: 1 }));
  await p.page.click('#to-a');
  await sleep(500);
  assert.deepEqual(await p.all(), []);
});

test('sends nothing on localhost without data-allow-localhost', async (t) => {
  const p = await open(t, { base: target.loopbackPageURL, query: { strict: '1' } });
  if (!p) return;
  await p.page.evaluate(() => window.sezim('after', { x: 1 }));
  await p.page.click('#to-a');
  await sleep(500);
  assert.deepEqual(await p.all(), []);
});

test('leaves no cookie and no storage behind, and the page renders', async (t) => {
  const p = await open(t);
  await p.wait(2);
  await p.page.evaluate(() => window.sezim('booked', { kind: 'chat' }));
  await p.page.click('#to-a');
  await p.page.click('#hash');
  await p.page.click('#to-b');
  await p.page.evaluate(() => history.back());
  await p.wait(4, isPageview);

  assert.deepEqual(await p.context.cookies(), [], 'no cookie on any origin');
  const storage = await p.page.evaluate(async () => ({
    cookie: document.cookie,
    local: localStorage.length,
    session: sessionStorage.length,
    idb: indexedDB.databases ? (await indexedDB.databases()).length : 0,
  }));
  assert.deepEqual(storage, { cookie: '', local: 0, session: 0, idb: 0 });
  for (const h of await p.all()) assert.equal(h.cookie, '', `${h.via} sent a cookie`);

  const file = await screenshot(p.page, 'tracker-page');
  t.diagnostic(`screenshot: ${file}`);
});

const clickEvent = (h) => typeof h.ev.n === 'string' && /^(Outbound link|File download): /.test(h.ev.n);

test('data-outbound and data-downloads send the host or the file path, nothing else of the link', async (t) => {
  const p = await open(t, { query: { outbound: '1', downloads: 'true' } });
  if (!p) return;
  await p.wait(1, isPageview);
  for (const id of ['#out', '#out-file', '#file', '#marked', '#song', '#inside', '#mail', '#nested-child']) await p.page.click(id);
  await p.page.click('#out', { button: 'middle' });
  const want = [
    'File download: /export', // the download attribute, whatever the extension
    'File download: /files/annual%20report.pdf',
    'File download: /get/Guide.DOCX', // a file on another host is a download
    'File download: /media/song.mp3',
    'Outbound link: elsewhere.example',
    'Outbound link: elsewhere.example', // the middle click
    'Outbound link: nested.example', // a click inside the link
  ];
  await p.wait(want.length, clickEvent);
  await sleep(300); // time for a stray event to arrive
  const got = (await p.all()).filter(clickEvent);
  assert.deepEqual(got.map((h) => h.ev.n).sort(), want);
  for (const h of got) {
    assert.equal(h.via, 'beacon');
    assert.equal(h.ev.u, p.sent, 'the page the click happened on');
    assert.deepEqual(h.fields, ['l', 'n', 'r', 's', 'u', 'w'], 'no props, no link URL');
    for (const s of ['secret-token', 'token', 'sig=', 'frag', '8080', 'landing', 'anna']) assert.ok(!h.body.includes(s), `sent ${s}: ${h.body}`);
  }
});

test('data-downloads with a list counts those extensions only; without data-outbound no link is outbound', async (t) => {
  const p = await open(t, { query: { downloads: 'MP3, csv' } });
  if (!p) return;
  await p.wait(1, isPageview);
  for (const id of ['#out', '#out-file', '#file', '#marked', '#song', '#inside', '#nested-child']) await p.page.click(id);
  await p.wait(2, clickEvent);
  await sleep(300);
  const got = (await p.all()).filter(clickEvent);
  assert.deepEqual(got.map((h) => h.ev.n).sort(), ['File download: /export', 'File download: /media/song.mp3']);
});
