// The consent banner (web/banner.min.js, the bytes the collector serves) in
// a real browser, against e2e/consent-stub.mjs (or a real collector named by
// SEZIM_BANNER_COLLECTOR_URL): what it shows, what it records, and what it
// lets run.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { startBrowser, artifactsDir } from './lib.mjs';
import { startConsentStub } from './consent-stub.mjs';

const DESKTOP = { width: 1280, height: 800 };
const PHONE = { width: 390, height: 844 };

// The first layer's headings and buttons, per language.
const TEXT = {
  en: { title: 'Cookies and your privacy', accept: 'Accept all', reject: 'Reject all', settings: 'Settings', title2: 'Cookie settings' },
  ru: { title: 'Файлы cookie и конфиденциальность', accept: 'Принять все', reject: 'Отклонить все', settings: 'Настройки', title2: 'Настройки cookie' },
  kk: { title: 'Cookie файлдары және құпиялылық', accept: 'Барлығын қабылдау', reject: 'Барлығынан бас тарту', settings: 'Баптаулар', title2: 'Cookie баптаулары' },
};
const ALL_RAN = ['statistics', 'functional-src', 'yandex_metrica', 'google_analytics'];

let target;
before(async () => { target = await startConsentStub({ siteID: process.env.SEZIM_SITE_ID || 'test-site' }); });
after(async () => { await target?.close(); });

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const sha256 = (s) => createHash('sha256').update(s, 'utf8').digest('hex');

/**
 * Opens the test page in a fresh browser and records, from the browser's
 * side (so it works against any collector), every consent POST and every
 * tracker beacon of the context.
 */
async function open(t, { lang = 'en', query = {}, viewport = DESKTOP } = {}) {
  const b = await startBrowser({ args: target.browserArgs });
  const errors = [];
  const posts = [];
  const beacons = [];
  b.page.on('pageerror', (e) => errors.push(e.message));
  b.context.on('request', (r) => {
    const u = new URL(r.url());
    if (u.origin !== target.collectorOrigin || r.method() !== 'POST') return;
    if (u.pathname === '/consent') posts.push({ body: JSON.parse(r.postData()), contentType: r.headers()['content-type'] });
    if (u.pathname === '/e') beacons.push(JSON.parse(r.postData()));
  });
  let closed;
  const close = () => (closed ||= b.close());
  t.after(async () => {
    await close();
    assert.deepEqual(errors, [], 'the page threw');
  });
  // Every sezim:consent event, kept across reloads of the page.
  await b.context.addInitScript(() => {
    window.__events = [];
    document.addEventListener('sezim:consent', (e) => window.__events.push(e.detail));
  });
  await b.page.setViewportSize(viewport);
  const url = new URL(target.pageURL);
  url.searchParams.set('lang', lang);
  for (const [k, v] of Object.entries(query)) url.searchParams.set(k, v);
  await b.page.goto(url.href, { waitUntil: 'load' });
  const p = b.page;
  return {
    ...b,
    close,
    posts,
    beacons,
    actions: () => posts.map((x) => x.body.action),
    waitPost: async (action, n = 1) => {
      const deadline = Date.now() + 5000;
      for (;;) {
        const got = posts.filter((x) => x.body.action === action);
        if (got.length >= n) return got[n - 1].body;
        if (Date.now() > deadline) throw new Error(`no POST ${action} #${n}; saw ${JSON.stringify(posts.map((x) => x.body.action))}`);
        await sleep(25);
      }
    },
    shown: () => p.waitForFunction(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return h && !h.shadowRoot.querySelector('.bd').hidden;
    }),
    isOpen: () => p.evaluate(() => {
      const h = document.querySelector('[data-sezim-consent]');
      return !!h && !h.shadowRoot.querySelector('.bd').hidden;
    }),
    // The focused element, looking into the banner's shadow root.
    active: () => p.evaluate(() => {
      const h = document.querySelector('[data-sezim-consent]');
      const a = h && document.activeElement === h ? h.shadowRoot.activeElement : document.activeElement;
      if (!a) return null;
      return { inBanner: !!h && document.activeElement === h, a: a.getAttribute('data-a'), id: a.id, tag: a.tagName, role: a.getAttribute('role') };
    }),
    layer: () => p.evaluate(() => {
      const dlg = document.querySelector('[data-sezim-consent]').shadowRoot.querySelector('[role=dialog]');
      return dlg.getAttribute('aria-labelledby') === 't2' ? 2 : 1;
    }),
    // The dialog's visible text, normalised as banner.js documents it.
    visibleText: () => p.evaluate(() => document.querySelector('[data-sezim-consent]').shadowRoot
      .querySelector('[role=dialog]').innerText.split('\n').map((s) => s.trim()).filter(Boolean).join('\n')),
    ran: () => p.evaluate(() => window.__ran || []),
    ready: () => p.evaluate(() => window.Sezim.consent.ready),
  };
}

async function shot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** Presses Tab until the banner button with data-a=action has focus. */
async function tabTo(b, action) {
  for (let i = 0; i < 12; i++) {
    await b.page.keyboard.press('Tab');
    const a = await b.active();
    if (a && a.a === action) return;
  }
  throw new Error(`Tab never reached ${action}`);
}

for (const lang of ['ru', 'kk', 'en']) {
  test(`first visit shows the banner in ${lang}, and text_hash is the SHA-256 of its visible text`, async (t) => {
    const b = await open(t, { lang });
    await b.shown();
    const dlg = b.page.locator('[role=dialog]');
    assert.equal(await dlg.getAttribute('aria-modal'), 'true');
    assert.equal(await dlg.getAttribute('lang'), lang);
    assert.equal(await dlg.getAttribute('aria-labelledby'), 't1');
    assert.equal(await b.page.locator('#t1').innerText(), TEXT[lang].title, 'the heading names the dialog');
    for (const k of ['accept', 'reject', 'settings']) {
      assert.equal(await b.page.getByRole('button', { name: TEXT[lang][k], exact: true }).count(), 1, `button ${k}`);
    }
    const shown = await b.waitPost('shown');
    const visible = await b.visibleText();
    assert.ok(visible.startsWith(TEXT[lang].title + '\n'), visible);
    assert.equal(shown.text_hash, sha256(visible), 'text_hash is the SHA-256 of the visible text');
    assert.equal(shown.lang, lang);
    assert.equal(shown.s, target.siteID);
    assert.equal(shown.policy_version, '2026-11');
    assert.match(b.posts[0].contentType, /^text\/plain/, 'no preflight');
    assert.deepEqual(await b.ran(), [], 'nothing optional runs before a choice');
    t.diagnostic(`screenshot: ${await shot(b.page, `banner-${lang}`)}`);

    // The settings layer: one switch per purpose, one per service with its country.
    await b.page.getByRole('button', { name: TEXT[lang].settings, exact: true }).click();
    assert.equal(await b.layer(), 2);
    assert.equal(await b.page.locator('#t2').innerText(), TEXT[lang].title2);
    const switches = b.page.getByRole('switch');
    assert.equal(await switches.count(), 6, 'necessary, functional, statistics, identified, two services');
    const necessary = b.page.locator('#sz-necessary');
    assert.ok(await necessary.isChecked() && await necessary.isDisabled(), 'necessary is fixed on');
    const settingsText = await b.visibleText();
    assert.match(settingsText, { ru: /Россия/, kk: /Ресей/, en: /Russia/ }[lang]);
    assert.match(settingsText, { ru: /США/, kk: /АҚШ/, en: /United States/ }[lang]);
    t.diagnostic(`screenshot: ${await shot(b.page, `banner-${lang}-settings`)}`);

    // The same on a phone.
    await b.page.setViewportSize(PHONE);
    t.diagnostic(`screenshot: ${await shot(b.page, `banner-${lang}-settings-phone`)}`);
    await b.page.keyboard.press('Escape');
    assert.equal(await b.layer(), 1);
    t.diagnostic(`screenshot: ${await shot(b.page, `banner-${lang}-phone`)}`);

    // A decision on the first layer carries the hash of that same text.
    await b.page.getByRole('button', { name: TEXT[lang].reject, exact: true }).click();
    const rejected = await b.waitPost('reject_all');
    assert.equal(rejected.text_hash, shown.text_hash);
    assert.equal(b.actions().filter((a) => a === 'shown').length, 1, 'one "shown" per display');
  });
}

test('keyboard only: Tab to "Accept all", Enter; blocked content runs without a reload', async (t) => {
  const b = await open(t);
  await b.shown();
  await b.page.evaluate(() => { window.__sameDocument = true; });
  assert.deepEqual(await b.active(), { inBanner: true, a: null, id: '', tag: 'DIV', role: 'dialog' }, 'focus moves into the dialog');
  await tabTo(b, 'accept_all');
  await b.page.keyboard.press('Enter');
  const accepted = await b.waitPost('accept_all');
  assert.deepEqual(accepted.purposes, ['necessary', 'functional', 'statistics', 'identified', 'third_party']);
  assert.deepEqual(accepted.services, ['yandex_metrica', 'google_analytics']);
  await b.page.waitForFunction((n) => (window.__ran || []).length === n, ALL_RAN.length);
  assert.deepEqual(await b.ran(), ALL_RAN, 'every blocked script ran, in document order');
  assert.equal(await b.page.evaluate(() => window.__sameDocument), true, 'no reload');
  assert.equal(await b.isOpen(), false);
  assert.match(await b.page.locator('iframe').getAttribute('src'), /\/frame\.html$/);
  assert.match(await b.page.locator('main img').getAttribute('src'), /\/px\.gif$/);
  const got = await b.page.evaluate(() => window.Sezim.consent.get());
  assert.deepEqual(got, { purposes: accepted.purposes, services: accepted.services, policy_version: '2026-11', decided: true });
  const events = await b.page.evaluate(() => window.__events);
  assert.deepEqual(events.at(-1), got, 'sezim:consent carries the grants');
  assert.equal(events.at(0).decided, false, 'the first event is the state on arrival: no choice');

  // Point 7: the tracker sends the same anonymous fields whatever the choice.
  await b.page.evaluate(() => window.sezim('after_accept'));
  await sleep(300);
  assert.ok(b.beacons.length >= 1);
  for (const ev of b.beacons) {
    assert.deepEqual(Object.keys(ev).filter((k) => !['s', 'u', 'r', 'w', 'l', 'n', 'p'].includes(k)), [], 'no identifier field');
  }
  assert.equal(await b.page.evaluate(() => document.cookie.split('; ').filter((c) => /^sezim/.test(c)).length), 0, 'no tracker cookie on the page');
});

test('keyboard only: Tab to "Reject all", Space; nothing runs, and the refusal is remembered', async (t) => {
  const b = await open(t);
  await b.shown();
  await tabTo(b, 'reject_all');
  await b.page.keyboard.press('Space');
  const rejected = await b.waitPost('reject_all');
  assert.deepEqual([rejected.purposes, rejected.services], [['necessary'], []]);
  await b.page.waitForFunction(() => window.__events.some((e) => e.decided));
  await sleep(300);
  assert.deepEqual(await b.ran(), [], 'no blocked script ran');
  assert.equal(await b.page.locator('iframe').getAttribute('src'), null);
  assert.equal(await b.isOpen(), false);
  const update = await b.page.evaluate(() => Array.from(window.dataLayer, (a) => Array.from(a)).filter((a) => a[1] === 'update').at(-1));
  assert.equal(update[2].analytics_storage, 'denied');

  await b.page.reload({ waitUntil: 'load' });
  await b.ready();
  await sleep(200);
  assert.equal(await b.isOpen(), false, 'no banner after a refusal');
  assert.deepEqual(await b.ran(), []);
  assert.equal(b.actions().filter((a) => a === 'shown').length, 1);
  const names = (await b.context.cookies()).map((c) => c.name);
  assert.ok(names.includes('sezim_consent'), 'the refusal is stored by the collector');
  assert.ok(!names.includes('sezim_vid'), 'a refusal carries no visitor id');
  assert.ok(!names.some((n) => /^_(ym|ga)/.test(n)));
});

test('focus is trapped; Esc never decides; focus returns where it was', async (t) => {
  const b = await open(t);
  await b.shown();
  // Forward around the first layer more than once, and back.
  const seen = [];
  for (let i = 0; i < 9; i++) {
    await b.page.keyboard.press('Tab');
    const a = await b.active();
    assert.ok(a.inBanner, `Tab ${i + 1} left the dialog: ${JSON.stringify(a)}`);
    seen.push(a.a || a.tag);
  }
  assert.deepEqual(seen.slice(0, 4), ['A', 'reject_all', 'accept_all', 'settings'], 'policy link, then the buttons');
  assert.deepEqual(seen.slice(4, 8), seen.slice(0, 4), 'Tab wraps around');
  assert.equal(seen[8], 'A');
  await b.page.keyboard.press('Shift+Tab');
  assert.equal((await b.active()).a, 'settings', 'Shift+Tab wraps to the last');
  await b.page.keyboard.press('Shift+Tab');
  assert.equal((await b.active()).a, 'accept_all');
  await b.page.keyboard.press('Tab');

  // Esc on the first layer of a first visit: nothing happens.
  await b.page.keyboard.press('Escape');
  assert.equal(await b.isOpen(), true);
  assert.equal(await b.layer(), 1);
  // Settings, then Esc: back to the first layer, on the Settings button.
  await b.page.keyboard.press('Enter');
  assert.equal(await b.layer(), 2);
  for (let i = 0; i < 10; i++) {
    await b.page.keyboard.press('Tab');
    assert.ok((await b.active()).inBanner);
  }
  await b.page.keyboard.press('Escape');
  assert.equal(await b.layer(), 1);
  assert.equal((await b.active()).a, 'settings');
  // A click on the page outside does not decide either.
  await b.page.mouse.click(5, 5);
  assert.equal(await b.isOpen(), true);
  await sleep(300);
  assert.deepEqual(b.actions(), ['shown']);

  // Decide, then reopen from the footer link with the keyboard: Esc closes
  // (a choice exists) and focus goes back to the link.
  await tabTo(b, 'accept_all');
  await b.page.keyboard.press('Enter');
  await b.waitPost('accept_all');
  await b.page.focus('#consent-link');
  await b.page.keyboard.press('Enter');
  await b.shown();
  assert.equal(await b.layer(), 2);
  assert.equal(await b.page.getByRole('button', { name: 'Close' }).isVisible(), true);
  await b.page.keyboard.press('Escape');
  assert.equal(await b.isOpen(), false);
  assert.equal((await b.active()).id, 'consent-link', 'focus restored to the link');
  assert.deepEqual(b.actions(), ['shown', 'accept_all', 'shown']);
});

test('no consent is implied by scrolling or waiting', async (t) => {
  const b = await open(t, { viewport: { width: 1280, height: 400 } });
  await b.shown();
  await b.page.mouse.wheel(0, 2000);
  await b.page.evaluate(() => window.scrollTo(0, document.body.scrollHeight));
  await sleep(1500);
  assert.equal(await b.isOpen(), true);
  assert.deepEqual(b.actions(), ['shown']);
  assert.deepEqual(await b.ran(), []);
  assert.deepEqual(await b.page.evaluate(() => window.Sezim.consent.get().purposes), ['necessary']);
});

test('"Reject all" and "Accept all" are equally prominent', async (t) => {
  for (const lang of ['en', 'ru', 'kk']) {
    for (const viewport of [DESKTOP, PHONE]) {
      const b = await open(t, { lang, viewport });
      await b.shown();
      const look = async (name) => b.page.getByRole('button', { name, exact: true }).evaluate((e) => {
        const s = getComputedStyle(e);
        const r = e.getBoundingClientRect();
        return {
          width: Math.round(r.width), height: Math.round(r.height),
          fontSize: s.fontSize, fontWeight: s.fontWeight, fontFamily: s.fontFamily,
          color: s.color, background: s.backgroundColor, border: s.border, radius: s.borderRadius, padding: s.padding,
        };
      });
      const [acc, rej] = [await look(TEXT[lang].accept), await look(TEXT[lang].reject)];
      assert.deepEqual(rej, acc, `${lang} at ${viewport.width}px`);
      assert.ok(acc.width >= 120 && acc.height >= 44, `big enough to tap: ${JSON.stringify(acc)}`);
      await b.close();
    }
  }
});

test('a custom choice of one service runs only that service\'s script', async (t) => {
  const b = await open(t);
  await b.shown();
  await b.page.getByRole('button', { name: 'Settings', exact: true }).click();
  await b.page.getByRole('switch', { name: 'Yandex Metrica' }).check();
  await b.page.getByRole('button', { name: 'Save choices', exact: true }).click();
  const custom = await b.waitPost('custom');
  assert.deepEqual([custom.purposes, custom.services], [['necessary', 'third_party'], ['yandex_metrica']]);
  await b.page.waitForFunction(() => (window.__ran || []).length > 0);
  await sleep(300);
  assert.deepEqual(await b.ran(), ['yandex_metrica']);
  assert.equal(await b.page.locator('iframe').getAttribute('src'), null, 'the Google Analytics frame stays inert');
  const update = await b.page.evaluate(() => Array.from(window.dataLayer, (a) => Array.from(a)).filter((a) => a[1] === 'update').at(-1));
  assert.equal(update[2].analytics_storage, 'denied', 'Google gets no analytics storage for a Yandex-only choice');
});

test('Sezim.consent.open() reopens the settings with the current choice', async (t) => {
  const b = await open(t);
  await b.shown();
  await b.page.getByRole('button', { name: 'Settings', exact: true }).click();
  await b.page.getByRole('switch', { name: 'Statistics', exact: true }).check();
  await b.page.getByRole('button', { name: 'Save choices', exact: true }).click();
  await b.waitPost('custom');
  await b.page.waitForFunction(() => (window.__ran || []).includes('statistics'));

  await b.page.reload({ waitUntil: 'load' });
  await b.ready();
  assert.equal(await b.isOpen(), false);
  assert.deepEqual(await b.ran(), ['statistics'], 'the stored choice runs its script on the next page');
  await b.page.evaluate(() => window.Sezim.consent.open());
  await b.shown();
  assert.equal(await b.layer(), 2);
  const state = {};
  for (const id of ['necessary', 'functional', 'statistics', 'identified', 'yandex_metrica', 'google_analytics']) {
    state[id] = await b.page.locator(`#sz-${id}`).isChecked();
  }
  assert.deepEqual(state, { necessary: true, functional: false, statistics: true, identified: false, yandex_metrica: false, google_analytics: false });
  assert.deepEqual(b.actions(), ['shown', 'custom', 'shown']);
});

test('withdrawal deletes the service\'s cookies and storage and reloads without its script', async (t) => {
  const b = await open(t);
  await b.shown();
  await b.page.getByRole('button', { name: 'Accept all', exact: true }).click();
  await b.page.waitForFunction((n) => (window.__ran || []).length === n, ALL_RAN.length);
  const before = (await b.context.cookies()).map((c) => `${c.name}@${c.domain}`).sort();
  for (const c of ['_ym_uid@www.site.test', '_ym_d@.site.test', '_ga@.site.test']) assert.ok(before.includes(c), `${c} in ${before}`);
  assert.equal(await b.page.evaluate(() => localStorage.getItem('_ym_retryReqs')), '{}');

  await b.page.evaluate(() => window.Sezim.consent.open());
  await b.shown();
  const reloaded = b.page.waitForNavigation({ waitUntil: 'load' });
  await b.page.getByRole('button', { name: 'Reject all', exact: true }).click();
  const w = await b.waitPost('withdraw');
  assert.deepEqual([w.purposes, w.services], [['necessary'], []]);
  await reloaded;
  await b.ready();
  const left = (await b.context.cookies()).map((c) => c.name);
  assert.deepEqual(left.filter((n) => /^_(ym|ga)/.test(n)), [], `cookies left: ${left}`);
  assert.ok(!left.includes('sezim_vid'));
  assert.equal(await b.page.evaluate(() => localStorage.getItem('_ym_retryReqs')), null);
  assert.deepEqual(await b.ran(), [], 'after the reload nothing optional runs');
  assert.equal(await b.isOpen(), false, 'the withdrawal is a choice: no new prompt');
});

test('a new policy version prompts again', async (t) => {
  if (!target.setPolicyVersion) return t.skip('needs the stub to change the policy version');
  t.after(() => target.setPolicyVersion('2026-11'));
  const b = await open(t);
  await b.shown();
  await b.page.getByRole('button', { name: 'Accept all', exact: true }).click();
  await b.waitPost('accept_all');
  await b.page.reload({ waitUntil: 'load' });
  await b.ready();
  assert.equal(await b.isOpen(), false);
  // The external script is fetched after the inline one before it.
  await b.page.waitForFunction((n) => (window.__ran || []).length === n, ALL_RAN.length);
  assert.deepEqual(await b.ran(), ALL_RAN);

  target.setPolicyVersion('2026-12');
  await b.page.reload({ waitUntil: 'load' });
  await b.shown();
  assert.deepEqual(await b.ran(), [], 'consent to the old version grants nothing');
  assert.equal((await b.waitPost('shown', 2)).policy_version, '2026-12');
  await b.page.getByRole('button', { name: 'Accept all', exact: true }).click();
  assert.equal((await b.waitPost('accept_all', 2)).policy_version, '2026-12');
});

test('Consent Mode: denied by default before any other script, updated on accept', async (t) => {
  const b = await open(t);
  const seen = await b.page.evaluate(() => window.__dataLayerSeen);
  assert.deepEqual(seen[0], ['consent', 'default', {
    ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', analytics_storage: 'denied',
    functionality_storage: 'denied', personalization_storage: 'denied', security_storage: 'granted', wait_for_update: 500,
  }]);
  assert.equal(await b.page.evaluate(() => typeof window.gtag), 'function');
  await b.shown();
  await b.page.getByRole('button', { name: 'Accept all', exact: true }).click();
  await b.waitPost('accept_all');
  await b.page.waitForFunction(() => window.Sezim.consent.get().decided);
  const updates = await b.page.evaluate(() => Array.from(window.dataLayer, (a) => Array.from(a)).filter((a) => a[0] === 'consent' && a[1] === 'update'));
  assert.deepEqual(updates.at(-1)[2], {
    ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied', analytics_storage: 'granted',
    functionality_storage: 'granted', personalization_storage: 'granted', security_storage: 'granted',
  }, 'no advertising purpose exists, so ad_* stay denied');
});

test('deferred banner.js works too (without the Consent Mode ordering)', async (t) => {
  const b = await open(t, { query: { defer: '1' } });
  await b.shown();
  await b.page.getByRole('button', { name: 'Accept all', exact: true }).click();
  await b.page.waitForFunction((n) => (window.__ran || []).length === n, ALL_RAN.length);
  assert.deepEqual(await b.ran(), ALL_RAN);
});
