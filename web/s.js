/* Sezim tracker. No cookie, no storage, no identifier: the collector derives
   everything else from the request. Served as is; keep it small (a Go test
   caps it at 1536 bytes gzipped) and never let it throw into the page. */
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

    // The one place that decides what is sent: add fields here.
    var payload = function (ref, name, props) {
      var o = { s: site, u: loc.href, r: ref, w: screen.width, l: nav.language || '' };
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

    var ref = d.referrer;
    var here = loc.href;
    // What counts as "another page": the path (and the hash when the site
    // routes by it). Query changes are filters and pagination, not pages;
    // the stats keep no query string anyway.
    var key = function () { return loc.pathname + (hash ? loc.hash : ''); };
    var last = key();

    var track = function (name, props) {
      try { if (!off) send(payload(ref, name, props)); } catch (e) {}
    };

    // Called after every history change; sends one pageview per new key.
    // The referrer of an in-app navigation is the URL just left.
    var changed = function () {
      var was = here;
      here = loc.href;
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
