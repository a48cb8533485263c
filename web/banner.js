/* Sezim consent banner, served at /banner.js. It asks, records every
   decision with the collector, and only then lets the page's blocked
   scripts, frames and images run. The readable source is this file; the
   bytes served are banner.min.js ("go generate ./web"). A Go test caps
   JS + CSS (the CSS lives below) at 7.5 KiB gzipped. Embedding, the API and
   the decisions it makes: banner.md. */
(function (w, d, loc) {
  'use strict';
  var S = w.Sezim = w.Sezim || {};
  // Loaded twice on one page: the first copy already asks.
  if (S.consent) return;

  // Google Consent Mode v2. The defaults must be in the dataLayer before
  // any Google tag reads it, so this runs first and synchronously (which
  // holds when banner.js is the first script in <head>, without defer).
  var dl = w.dataLayer = w.dataLayer || [];
  if (typeof w.gtag != 'function') w.gtag = function () { dl.push(arguments); };
  var has = function (a, x) { return a.indexOf(x) >= 0; };
  var NONE = { purposes: ['necessary'], services: [] };
  // Sezim has no advertising purpose, so the ad_* signals never turn on.
  var gmode = function (g) {
    var f = has(g.purposes, 'functional') ? 'granted' : 'denied';
    return {
      ad_storage: 'denied', ad_user_data: 'denied', ad_personalization: 'denied',
      analytics_storage: has(g.services, 'google_analytics') ? 'granted' : 'denied',
      functionality_storage: f, personalization_storage: f, security_storage: 'granted'
    };
  };
  var dflt = gmode(NONE);
  dflt.wait_for_update = 500;
  w.gtag('consent', 'default', dflt);

  var T = {
    en: {
      title: 'Cookies and your privacy',
      body: 'Necessary cookies keep the site working. With your permission we will also remember your settings, count visits to improve the site, link them to your account and use third-party analytics services. Nothing optional is on until you choose. You can change your decision at any time with the \u201cCookie settings\u201d link on the site.',
      accept: 'Accept all', reject: 'Reject all', settings: 'Settings',
      title2: 'Cookie settings', intro: 'Choose what you allow. You can withdraw your consent at any time.',
      save: 'Save choices', close: 'Close', always: 'Always on', country: 'Data is transferred to: ', policy: 'Privacy policy',
      necessary: 'Strictly necessary', necessary_d: 'Keep the site working and secure and store your choice in this window.',
      functional: 'Functional', functional_d: 'Remember your preferences, such as the language.',
      statistics: 'Statistics', statistics_d: 'Count visits and page views to improve the site. Without this consent only anonymous totals are kept.',
      identified: 'Account statistics', identified_d: 'Link visit statistics to your account while you are signed in.',
      third_party: 'Third-party services', third_party_d: 'Analytics services of other companies. Data is transferred to the country shown, where personal data may be less protected than in Kazakhstan.',
      receipt: 'Your consent receipt: ', receipt_d: '. Quote it in a request about your data.',
      RU: 'Russia', US: 'United States', KZ: 'Kazakhstan'
    },
    ru: {
      title: 'Файлы cookie и конфиденциальность',
      body: 'Необходимые файлы cookie обеспечивают работу сайта. С вашего разрешения мы также запомним ваши настройки, будем считать посещения, чтобы улучшать сайт, свяжем их с вашим аккаунтом и подключим сторонние сервисы аналитики. Пока вы не сделали выбор, ничего необязательного не включено. Изменить решение можно в любой момент по ссылке \u00abНастройки cookie\u00bb на сайте.',
      accept: 'Принять все', reject: 'Отклонить все', settings: 'Настройки',
      title2: 'Настройки cookie', intro: 'Выберите, что вы разрешаете. Согласие можно отозвать в любой момент.',
      save: 'Сохранить выбор', close: 'Закрыть', always: 'Всегда включены', country: 'Данные передаются в страну: ', policy: 'Политика конфиденциальности',
      necessary: 'Необходимые', necessary_d: 'Обеспечивают работу и безопасность сайта и хранят ваш выбор в этом окне.',
      functional: 'Функциональные', functional_d: 'Запоминают ваши настройки, например язык.',
      statistics: 'Статистика', statistics_d: 'Подсчёт посещений и просмотров страниц, чтобы улучшать сайт. Без этого согласия сохраняются только обезличенные итоговые данные.',
      identified: 'Статистика аккаунта', identified_d: 'Связывает статистику посещений с вашим аккаунтом, когда вы вошли в систему.',
      third_party: 'Сторонние сервисы', third_party_d: 'Сервисы аналитики других компаний. Данные передаются в указанную страну, где персональные данные могут быть защищены хуже, чем в Казахстане.',
      receipt: 'Ваша квитанция о согласии: ', receipt_d: '. Укажите её в запросе о ваших данных.',
      RU: 'Россия', US: 'США', KZ: 'Казахстан'
    },
    kk: {
      title: 'Cookie файлдары және құпиялылық',
      body: 'Қажетті cookie файлдары сайттың жұмысын қамтамасыз етеді. Рұқсатыңызбен біз сондай-ақ баптауларыңызды есте сақтаймыз, сайтты жақсарту үшін кірулерді санаймыз, оларды аккаунтыңызбен байланыстырамыз және үшінші тарап аналитика қызметтерін қосамыз. Таңдау жасағаныңызға дейін міндетті емес ештеңе қосылмайды. Шешіміңізді кез келген уақытта сайттағы \u00abCookie баптаулары\u00bb сілтемесі арқылы өзгерте аласыз.',
      accept: 'Барлығын қабылдау', reject: 'Барлығынан бас тарту', settings: 'Баптаулар',
      title2: 'Cookie баптаулары', intro: 'Неге рұқсат беретініңізді таңдаңыз. Келісіміңізді кез келген уақытта кері қайтарып ала аласыз.',
      save: 'Таңдауды сақтау', close: 'Жабу', always: 'Әрқашан қосулы', country: 'Деректер жіберілетін ел: ', policy: 'Құпиялылық саясаты',
      necessary: 'Қажетті', necessary_d: 'Сайттың жұмысы мен қауіпсіздігін қамтамасыз етеді және осы терезедегі таңдауыңызды сақтайды.',
      functional: 'Функционалдық', functional_d: 'Тіл сияқты баптауларыңызды есте сақтайды.',
      statistics: 'Статистика', statistics_d: 'Сайтты жақсарту үшін кірулер мен бет қаралымдарын санайды. Бұл келісімсіз тек иесіздендірілген жиынтық деректер сақталады.',
      identified: 'Аккаунт статистикасы', identified_d: 'Жүйеге кірген кезіңізде кірулер статистикасын аккаунтыңызбен байланыстырады.',
      third_party: 'Үшінші тарап қызметтері', third_party_d: 'Басқа компаниялардың аналитика қызметтері. Деректер көрсетілген елге жіберіледі, онда дербес деректер Қазақстандағыдан нашар қорғалуы мүмкін.',
      receipt: 'Келісіміңіздің түбіртегі: ', receipt_d: '. Деректеріңіз туралы сұрауда оны көрсетіңіз.',
      RU: 'Ресей', US: 'АҚШ', KZ: 'Қазақстан'
    }
  };

  var CSS = ':host{all:initial}' +
    '.bd{position:fixed;inset:0;z-index:2147483647;display:flex;align-items:flex-end;justify-content:center;padding:20px;box-sizing:border-box;background:rgba(17,24,39,.38);' +
    'font:15px/1.5 var(--sezim-font,system-ui,-apple-system,"Segoe UI",Roboto,"Noto Sans",sans-serif);color:var(--sezim-fg,#1d2530)}' +
    '*{box-sizing:border-box}[hidden]{display:none!important}' +
    '.dlg{position:relative;display:flex;flex-direction:column;width:100%;max-width:640px;max-height:calc(100vh - 40px);overflow:hidden;background:var(--sezim-bg,#fff);border-radius:var(--sezim-radius,16px);box-shadow:0 18px 50px rgba(17,24,39,.28);padding:26px 28px 24px}' +
    '.ly{display:flex;flex-direction:column;min-height:0}.sc{overflow:auto;min-height:0;flex:1 1 auto}' +
    'h2{margin:0 0 10px;font-size:20px;line-height:1.3;font-weight:650;letter-spacing:-.01em}' +
    'p{margin:0 0 10px}a{color:var(--sezim-accent,#1c5d58);text-underline-offset:2px}' +
    '.row{display:grid;grid-template-columns:1fr 1fr 1fr;gap:10px;margin-top:18px}' +
    'button{font:inherit;font-weight:600;line-height:1.25;cursor:pointer;border-radius:10px;min-height:46px;padding:10px 14px;margin:0;border:2px solid var(--sezim-accent,#1c5d58)}' +
    '.pri{background:var(--sezim-accent,#1c5d58);color:var(--sezim-on-accent,#fff)}.pri:hover{filter:brightness(1.12)}' +
    '.sec{background:transparent;color:var(--sezim-accent,#1c5d58)}.sec:hover{background:rgba(28,93,88,.08)}' +
    ':focus-visible{outline:3px solid var(--sezim-focus,#e8a317);outline-offset:2px}.dlg:focus-visible{outline:0}' +
    '.x{position:absolute;top:14px;right:14px;min-height:0;width:36px;height:36px;padding:0;border:0;background:transparent;color:inherit;font-size:24px;font-weight:400;line-height:1}' +
    'ul{list-style:none;margin:6px 0 0;padding:0 4px 0 0}ul+.row{margin-top:0;padding-top:14px;border-top:1px solid #e4e8ec}' +
    'li{display:flex;gap:16px;align-items:flex-start;justify-content:space-between;padding:12px 0;border-top:1px solid #e4e8ec}' +
    'li.sv{padding-left:18px;border-top-style:dashed}' +
    'label,b{display:block;font-weight:600}small{display:block;color:#5a6472;font-size:13.5px;margin-top:2px}' +
    'input{appearance:none;-webkit-appearance:none;flex:none;position:relative;width:44px;height:26px;margin:2px 0 0;border-radius:13px;background:#b9c1ca;cursor:pointer;transition:background .15s}' +
    'input:before{content:"";position:absolute;top:3px;left:3px;width:20px;height:20px;border-radius:50%;background:#fff;box-shadow:0 1px 3px rgba(0,0,0,.3);transition:transform .15s}' +
    'input:checked{background:var(--sezim-accent,#1c5d58)}input:checked:before{transform:translateX(18px)}input:disabled{opacity:.5;cursor:default}' +
    '.rc{font-size:13.5px;color:#5a6472}.rc code{font-size:14px;color:var(--sezim-fg,#1d2530);user-select:all}' +
    '.on{display:block;color:var(--sezim-accent,#1c5d58);font-size:13px;font-weight:600}' +
    '@media (max-width:600px){.bd{padding:0}.dlg{max-width:none;max-height:92vh;border-radius:18px 18px 0 0;padding:22px 18px 18px}h2{font-size:18px;padding-right:28px}' +
    '.row{grid-template-columns:1fr 1fr}.row .sec{grid-column:1/-1}}' +
    '@media (prefers-reduced-motion:reduce){input,input:before{transition:none}}';

  var el = d.currentScript || d.querySelector('script[src*="banner.js"]');
  var attr = function (k) { return el && el.getAttribute('data-' + k); };
  var site = attr('site') || '';
  var base = attr('api') || new URL(el.src, loc.href).origin;
  while (base.slice(-1) == '/') base = base.slice(0, -1);
  var lang = (d.documentElement.lang || '').toLowerCase().split('-')[0];
  if (!T[lang]) lang = 'en';
  var tx = T[lang];

  // The grants in force: necessary only until the collector says more.
  var cur = { purposes: NONE.purposes, services: [], policy_version: '', decided: false, receipt: '' };
  var cfg, root, bd, dlg, l1, l2, xb, rc, prev, isOpen;
  // What this page has let run, as [purpose, service] pairs.
  var ran = [];

  var granted = function (p, s) { return has(cur.purposes, p) && (!s || has(cur.services, s)); };
  var get = function () {
    return { purposes: cur.purposes.slice(), services: cur.services.slice(), policy_version: cur.policy_version, decided: cur.decided };
  };
  var onReady = function (f) {
    if (d.readyState == 'loading') d.addEventListener('DOMContentLoaded', f);
    else f();
  };

  // Blocked elements: <script type="text/plain" data-purpose>, and any
  // element with data-purpose and data-src. A script is cloned into a real
  // one (a changed type does not run it). Scripts run in document order: an
  // external one is waited for before the next (a snippet may need it).
  var busy;
  var activate = function () {
    if (busy) return;
    var all = d.querySelectorAll('script[type="text/plain"][data-purpose],[data-purpose][data-src]');
    for (var i = 0; i < all.length && !busy; i++) {
      var e = all[i], p = e.getAttribute('data-purpose'), s = e.getAttribute('data-service');
      if (!granted(p, s)) continue;
      ran.push([p, s]);
      if (e.tagName != 'SCRIPT') {
        if (e.getAttribute('data-srcset')) e.srcset = e.getAttribute('data-srcset');
        e.src = e.getAttribute('data-src');
        e.removeAttribute('data-src');
        continue;
      }
      var n = d.createElement('script');
      [].forEach.call(e.attributes, function (a) {
        if (a.name != 'type') n.setAttribute(a.name, a.value);
      });
      if (e.getAttribute('data-type')) n.type = e.getAttribute('data-type');
      n.text = e.text;
      if (n.src && !n.hasAttribute('async')) {
        busy = 1;
        n.onload = n.onerror = function () {
          busy = 0;
          activate();
        };
      }
      e.parentNode.replaceChild(n, e);
    }
  };

  // Cookie name prefixes (and localStorage keys) per purpose or service,
  // from the site config, over what the known services are seen to use.
  var clean = function () {
    var map = { yandex_metrica: ['_ym'], google_analytics: ['_ga', '_gid', '_gat', '_gcl'] };
    var k, sv = {};
    var c = cfg && cfg.cookies || {};
    for (k in c) map[k] = c[k];
    (cfg ? cfg.services : []).forEach(function (s) { sv[s.id] = s.purpose; });
    for (k in map) {
      if (sv[k] ? granted(sv[k], k) : granted(k)) continue;
      drop(map[k]);
    }
  };
  var drop = function (pre) {
    var hit = function (n) { return pre.some(function (p) { return n.indexOf(p) == 0; }); };
    var dom = loc.hostname.split('.');
    var past = '=; expires=Thu, 01 Jan 1970 00:00:00 GMT; path=/';
    d.cookie.split(';').forEach(function (c) {
      var n = c.split('=')[0].trim();
      if (!n || !hit(n)) return;
      d.cookie = n + past;
      // The host and every parent domain; the browser ignores a public suffix.
      for (var i = 0; i < dom.length - 1; i++) d.cookie = n + past + '; domain=' + dom.slice(i).join('.');
    });
    try {
      Object.keys(localStorage).forEach(function (n) { if (hit(n)) localStorage.removeItem(n); });
    } catch (e) {}
  };

  var apply = function (g, decided) {
    cur = {
      purposes: (g.purposes || []).concat(has(g.purposes || [], 'necessary') ? [] : ['necessary']),
      services: (g.services || []).slice(),
      policy_version: g.policy_version || (cfg && cfg.policy_version) || '',
      decided: decided,
      // The receipt the visitor may quote in a request about their data:
      // from the decision just recorded, or from the cookie (state).
      receipt: g.receipt || ''
    };
    w.gtag('consent', 'update', gmode(cur));
    var gone = ran.some(function (r) { return !granted(r[0], r[1]); });
    clean();
    onReady(activate);
    d.dispatchEvent(new CustomEvent('sezim:consent', { detail: get() }));
    // What already ran cannot be unloaded: start over without it.
    if (gone) loc.reload();
  };

  var json = function (r) {
    if (!r.ok) throw new Error('HTTP ' + r.status);
    return r.json();
  };
  var q = '?s=' + encodeURIComponent(site);
  var post = function (o) {
    o.s = site;
    o.lang = lang;
    o.policy_version = cfg.policy_version;
    // A string body goes as text/plain: no preflight.
    return fetch(base + '/consent', { method: 'POST', credentials: 'include', keepalive: true, body: JSON.stringify(o) }).then(json);
  };

  // The visible text of the dialog, one trimmed line per line, empty lines
  // dropped: what the visitor read, and what text_hash is the SHA-256 of.
  // The receipt line is the visitor's own, not banner text: it is left out.
  var text = function () {
    var own = rc.hidden ? '' : rc.innerText.trim();
    return dlg.innerText.split('\n').map(function (s) { return s.trim(); }).filter(function (s) { return s && s != own; }).join('\n');
  };
  var sha = function (s) {
    try {
      return crypto.subtle.digest('SHA-256', new TextEncoder().encode(s)).then(function (b) {
        return Array.from(new Uint8Array(b), function (x) { return (x + 256).toString(16).slice(1); }).join('');
      });
    } catch (e) {
      // No crypto.subtle outside a secure context (a plain-http page).
      return Promise.resolve('');
    }
  };

  var h = function (tag, at, kids) {
    var e = d.createElement(tag);
    for (var k in at) e.setAttribute(k, at[k]);
    (kids || []).forEach(function (c) { if (c) e.append(c); });
    return e;
  };
  var btn = function (cls, a, label) { return h('button', { type: 'button', 'class': cls, 'data-a': a }, [label]); };
  var country = function (c) {
    if (tx[c]) return tx[c];
    try { return new Intl.DisplayNames([lang], { type: 'region' }).of(c); } catch (e) { return c; }
  };
  var sw = function (kind, id, dis) {
    var at = { type: 'checkbox', role: 'switch', id: 'sz-' + id, 'data-k': kind, value: id, 'aria-describedby': 'sz-' + id + '-d' };
    if (dis) { at.disabled = ''; at.checked = ''; }
    return h('input', at);
  };
  var item = function (cls, kind, id, name, desc, dis) {
    return h('li', { 'class': cls }, [
      h('div', {}, [h('label', { 'for': 'sz-' + id }, [name]), dis ? h('span', { 'class': 'on' }, [tx.always]) : '', h('small', { id: 'sz-' + id + '-d' }, [desc])]),
      sw(kind, id, dis)
    ]);
  };

  var build = function () {
    var host = h('div', { 'data-sezim-consent': '' });
    root = host.attachShadow({ mode: 'open' });
    var list = h('ul', { 'class': 'sc' });
    cfg.purposes.forEach(function (p) {
      var svc = cfg.services.filter(function (s) { return s.purpose == p.id; });
      var name = tx[p.id] || p.id, desc = tx[p.id + '_d'] || '';
      if (!svc.length) return list.append(item('', 'p', p.id, name, desc, p.required || p.id == 'necessary'));
      list.append(h('li', {}, [h('div', {}, [h('b', {}, [name]), h('small', {}, [desc])])]));
      svc.forEach(function (s) { list.append(item('sv', 's', s.id, s.name || s.id, tx.country + country(s.country))); });
    });
    var row = function (last) { return h('div', { 'class': 'row' }, [btn('pri', 'reject_all', tx.reject), btn('pri', 'accept_all', tx.accept), last]); };
    l1 = h('div', { 'class': 'ly' }, [
      h('h2', { id: 't1' }, [tx.title]),
      h('div', { 'class': 'sc' }, [
        h('p', { id: 'b1' }, [tx.body]),
        cfg.policy_url ? h('p', {}, [h('a', { href: cfg.policy_url, target: '_blank', rel: 'noopener' }, [tx.policy])]) : ''
      ]),
      row(btn('sec', 'settings', tx.settings))
    ]);
    xb = h('button', { type: 'button', 'class': 'x', 'data-a': 'close', 'aria-label': tx.close }, ['\u00d7']);
    rc = h('p', { 'class': 'rc', 'data-receipt': '', hidden: '' });
    l2 = h('div', { 'class': 'ly' }, [h('h2', { id: 't2' }, [tx.title2]), xb, h('p', { id: 'b2' }, [tx.intro]), rc, list, row(btn('sec', 'custom', tx.save))]);
    dlg = h('div', { role: 'dialog', 'aria-modal': 'true', tabindex: '-1', lang: lang, 'class': 'dlg' }, [l1, l2]);
    bd = h('div', { 'class': 'bd', hidden: '' }, [dlg]);
    var st = h('style');
    st.textContent = CSS;
    root.append(st, bd);
    // A click beside the dialog neither decides nor moves focus out of it.
    bd.addEventListener('mousedown', function (e) { if (e.target == bd) e.preventDefault(); });
    dlg.addEventListener('click', function (e) {
      var b = e.target.closest('[data-a]');
      if (!b) return;
      var a = b.getAttribute('data-a');
      if (a == 'settings') layer(2);
      else if (a == 'close') close();
      else decide(a);
    });
    dlg.addEventListener('keydown', function (e) {
      if (e.key == 'Escape') {
        e.preventDefault();
        esc();
      } else if (e.key == 'Tab') {
        var f = [].filter.call(dlg.querySelectorAll('button,a[href],input:not([disabled])'), function (x) { return x.getClientRects().length; });
        var i = f.indexOf(root.activeElement);
        if (e.shiftKey ? i <= 0 : i == f.length - 1) {
          e.preventDefault();
          f[e.shiftKey ? f.length - 1 : 0].focus();
        }
      }
    });
    // Focus that leaves the open dialog (a click on the page, a screen
    // reader's jump) is brought back.
    d.addEventListener('focusin', function (e) {
      if (isOpen && e.target != host) dlg.focus();
    });
    d.body.append(host);
  };

  var layer = function (n) {
    l1.hidden = n == 2;
    l2.hidden = n == 1;
    xb.hidden = !cur.decided;
    dlg.setAttribute('aria-labelledby', 't' + n);
    dlg.setAttribute('aria-describedby', 'b' + n);
    root.querySelectorAll('.sc').forEach(function (x) { x.scrollTop = 0; });
    dlg.focus();
  };

  // Esc never decides. It leaves the settings layer: back to the first one
  // while no choice exists, else out of the dialog, changing nothing. On the
  // first layer of a first visit it does nothing.
  var esc = function () {
    if (cur.decided) close();
    else if (l1.hidden) {
      layer(1);
      root.querySelector('[data-a=settings]').focus();
    }
  };

  var show = function (n) {
    if (!cfg) return;
    if (!root) build();
    root.querySelectorAll('input:not([disabled])').forEach(function (i) {
      i.checked = has(i.getAttribute('data-k') == 'p' ? cur.purposes : cur.services, i.value);
    });
    rc.hidden = !cur.receipt;
    rc.replaceChildren(tx.receipt, h('code', {}, [cur.receipt]), tx.receipt_d);
    if (!isOpen) prev = d.activeElement;
    bd.hidden = false;
    layer(n);
    if (isOpen) return;
    isOpen = true;
    // One "shown" per display, with the text as first displayed.
    sha(text()).then(function (x) { return post({ action: 'shown', purposes: [], services: [], text_hash: x }); }).catch(function () {});
  };

  var close = function () {
    isOpen = false;
    bd.hidden = true;
    if (root.activeElement) root.activeElement.blur();
    if (prev && prev.focus && prev != d.body && d.contains(prev)) prev.focus();
  };

  var decide = function (a) {
    var g = { purposes: ['necessary'], services: [] };
    if (a == 'accept_all') {
      g.purposes = cfg.purposes.map(function (p) { return p.id; });
      g.services = cfg.services.map(function (s) { return s.id; });
    } else if (a == 'custom') {
      root.querySelectorAll('input:checked:not([disabled])').forEach(function (i) {
        g[i.getAttribute('data-k') == 'p' ? 'purposes' : 'services'].push(i.value);
      });
      cfg.services.forEach(function (s) {
        if (has(g.services, s.id) && !has(g.purposes, s.purpose)) g.purposes.push(s.purpose);
      });
    } else if (cur.decided && (cur.purposes.length > 1 || cur.services.length)) {
      a = 'withdraw';
    }
    var t = text();
    close();
    sha(t).then(function (x) {
      return post({ action: a, purposes: g.purposes, services: g.services, text_hash: x });
    }).then(function (r) {
      apply(r, true);
    }, function () {
      // Unrecorded, a choice may only take away: without a receipt there
      // is no proof of consent, so nothing new is granted.
      apply({
        purposes: cur.purposes.filter(function (p) { return has(g.purposes, p); }),
        services: cur.services.filter(function (s) { return has(g.services, s); })
      }, cur.decided);
    });
  };

  // A footer link <a href="#" data-sezim-consent-open> reopens the choice.
  d.addEventListener('click', function (e) {
    var t = e.target.closest && e.target.closest('[data-sezim-consent-open]');
    if (!t) return;
    e.preventDefault();
    S.consent.open();
  });

  var ready = Promise.all([
    fetch(base + '/consent/config' + q).then(json),
    fetch(base + '/consent/state' + q, { credentials: 'include', cache: 'no-store' }).then(json)
  ]).then(function (r) {
    cfg = r[0];
    cfg.services = cfg.services || [];
    var o = (cfg.texts || {})[lang] || {};
    tx = Object.assign({}, tx, o);
    var st = r[1], ok = st.valid && !st.needs_prompt;
    apply(ok ? st : NONE, !!ok);
    if (!ok) onReady(function () { show(1); });
    return get();
  }, function () {
    // No collector, no choice: everything optional stays off.
    apply(NONE, false);
    return get();
  });

  onReady(function () {
    new MutationObserver(function () { activate(); }).observe(d.documentElement, { childList: true, subtree: true });
  });

  S.consent = {
    get: get,
    ready: ready,
    open: function () { ready.then(function () { onReady(function () { show(2); }); }); }
  };
})(window, document, location);
