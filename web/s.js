/* Sezim tracker. No cookie, no storage, no identifier: the collector derives
   everything else from the request. Served minified (go generate ./web);
   keep it small (a Go test caps it at 1,472 bytes gzipped) and never let
   it throw into the page. */
(function (w, d, nav, loc) {
  'use strict';
  try {
    var api = w.sezim;
    // Loaded twice on one page: the first copy already tracks.
    if (api && api.sz) return;
    var queue = (api && api.q) || [];
    var el = d.currentScript || d.querySelector('script[data-site]');
    var attr = function (k) { return el.getAttribute('data-' + k); };
    var site = attr('site');
    // Posting to the script's own origin lets one tag work on any page;
    // data-api points elsewhere (a first-party proxy, say).
    var base = (attr('api') || new URL(el.src, loc.href).origin).replace(/\/+$/, '');
    var hash = attr('hash') == 'true';
    var off = !site ||
      (nav.webdriver && attr('allow-automation') == null) ||
      (/^(localhost|127(\.\d+){3}|\[::1\])$/.test(loc.hostname) && attr('allow-localhost') == null);

    // Only what the collector keeps leaves the page, because a pixel's URL
    // lands in proxy logs: scheme, host and path; for the page itself also
    // the campaign tags the server reads (utm_*), the fact of an ad click
    // (as "=1": the server keeps nothing more, and the id identifies the
    // click) and, with data-hash, the hash. The rest of a query or fragment
    // (tokens, e-mail addresses) never does. Keep both lists in step with
    // pipeline/referrer/page.go (a test there compares them).
    var clean = function (href, page) {
      var q = [], u;
      try {
        u = new URL(href);
        if (page) u.searchParams.forEach(function (v, k) {
          if (/^utm_(source|medium|campaign|content|term)$/i.test(k)) q.push(k + '=' + encodeURIComponent(v));
          else if (v && /^(gclid|gbraid|wbraid|dclid|yclid|_openstat|msclkid|ttclid|twclid|li_fat_id|vkclid)$/i.test(k)) q.push(k + '=1');
        });
        return u.protocol + '//' + u.host + u.pathname + (q.length ? '?' + q.join('&') : '') + (page && hash ? u.hash : '');
      } catch (e) { return ''; }
    };

    // The one place that decides what is sent: add fields here.
    var payload = function (ref, name, props) {
      var o = { s: site, u: clean(loc.href, 1), r: ref, w: screen.width, l: nav.language || '' };
      if (name) o.n = name;
      if (props && typeof props == 'object') o.p = props;
      return o;
    };

    var send = function (o) {
      var body, q = [], k;
      try { body = JSON.stringify(o); } catch (e) { delete o.p; body = JSON.stringify(o); }
      try {
        // A string body goes as text/plain: a CORS-safelisted request, so
        // no preflight, and the browser delivers it even during unload.
        if (nav.sendBeacon && nav.sendBeacon(base + '/e', body)) return;
      } catch (e) {}
      // Blocked or missing beacon: an image request carries the same fields
      // but the props (a pixel has no body for them).
      for (k in o) if (k != 'p') q.push(k + '=' + encodeURIComponent(o[k]));
      new Image().src = base + '/p.gif?' + q.join('&');
    };

    // Of an outside referrer the server keeps the host only.
    var ref = d.referrer && clean(d.referrer);
    var here = clean(loc.href, 1);
    // What counts as "another page": the path (and the hash when the site
    // routes by it). Query changes are filters and pagination, not pages;
    // the stats keep no query string anyway.
    var key = function () { return loc.pathname + (hash ? loc.hash : ''); };
    var last = key();

    var track = function (name, props) {
      try { if (!off) send(payload(ref, name, props)); } catch (e) {}
    };

    // Called after every history change; sends one pageview per new key.
    // The referrer of an in-app navigation is the URL just left, as sent.
    var changed = function () {
      var was = here;
      here = clean(loc.href, 1);
      if (key() == last) return;
      last = key();
      ref = was;
      track();
    };

    // Calls keep queueing until the first pageview is out, so events never
    // precede it (and none is sent while a prerendered page is unseen).
    var ready = off;
    api = w.sezim = function (name, props) {
      if (!ready) queue.push(arguments);
      else if (name) track(String(name), props);
    };
    api.sz = 1;
    if (off) { queue.length = 0; return; }

    var h = w.history;
    var wrap = function (m) {
      var f = h[m];
      if (f) h[m] = function () {
        var r = f.apply(this, arguments);
        changed();
        return r;
      };
    };
    wrap('pushState');
    wrap('replaceState');
    w.addEventListener('popstate', changed);
    if (hash) w.addEventListener('hashchange', changed);

    // data-outbound: a click on a link to another host is an event named
    // after that host. data-downloads (optionally a list of extensions): a
    // click on a file link, or one marked download, is an event named after
    // the file's path. Only the host or the path leaves the page, never
    // the rest of the address (a query may hold a token), and the event
    // goes the way every event goes: the collector applies the visitor's
    // stored choice to it.
    var outbound = attr('outbound') != null && attr('outbound') != 'false';
    var files = attr('downloads');
    files = files != null && files != 'false' &&
      (files && files != 'true' ? files : 'pdf,doc,docx,xls,xlsx,ppt,pptx,odt,ods,csv,txt,rtf,epub,zip,rar,7z,gz,dmg,exe,apk,mp3,wav,mp4,mov,avi')
        .toLowerCase().split(/[\s,.]+/);
    var clicked = function (e) {
      try {
        var a = e.target.closest && e.target.closest('a[href]'), u, ext;
        if (!a || e.type == 'auxclick' && e.button != 1) return;
        u = new URL(a.href, loc.href);
        if (!/^https?:$/.test(u.protocol)) return;
        ext = /\.([^./]+)$/.exec(u.pathname);
        if (files && (a.hasAttribute('download') || ext && files.indexOf(ext[1].toLowerCase()) >= 0)) {
          // A name is at most 200 bytes at the collector: a long path is
          // sent as its file name.
          track('File download: ' + (u.pathname.length > 160 ? u.pathname.replace(/^.*\//, '') : u.pathname));
        } else if (outbound && u.host != loc.host) {
          track('Outbound link: ' + u.hostname);
        }
      } catch (err) {}
    };
    if (outbound || files) {
      d.addEventListener('click', clicked, true);
      d.addEventListener('auxclick', clicked, true);
    }

    var start = function () {
      ready = 1;
      track();
      // Replay what the page asked for before we loaded, after its pageview.
      while (queue.length) api.apply(w, queue.shift());
    };
    // A prerendered page may never be shown: count it once it is.
    if (d.prerendering) d.addEventListener('prerenderingchange', start, { once: true });
    else start();
  } catch (e) {}
})(window, document, navigator, location);
