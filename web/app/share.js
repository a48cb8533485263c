// Sezim shared dashboard: one site's numbers, read only, for someone with
// a link and no account. It reads the stats API under the link's own path
// (/share/<token>/api/v1/...), which its share session cookie is scoped
// to; nothing here can reach another site or any staff page. Values from
// the API only ever reach the page through textContent.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const base = location.pathname.replace(/\/+$/, '');
  const METRICS = [
    ['visitors', 'Unique visitors'], ['visits', 'Visits'], ['pageviews', 'Pageviews'],
    ['bounce_rate', 'Bounce rate', (v) => `${Math.round(v)}%`], ['visit_duration', 'Visit duration', (v) => `${Math.round(v)}s`],
  ];
  const PANELS = [['page', 'Pages'], ['channel', 'Channels'], ['source', 'Sources'], ['country', 'Countries'], ['device', 'Devices']];
  let site = '';

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  }
  async function api(path, q) {
    const res = await fetch(`${base}/api/v1/${path}${q ? `?${q}` : ''}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    const body = await res.json().catch(() => ({}));
    if (res.status === 410 || res.status === 404) {
      // Revoked: the page itself says so (and runs no script).
      location.reload();
      throw new Error(body.error || `HTTP ${res.status}`);
    }
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }
  function showError(err) {
    const t = $('error');
    t.textContent = `Could not load: ${err.message}`;
    t.hidden = false;
    setTimeout(() => { t.hidden = true; }, 6000);
  }
  const params = (extra) => new URLSearchParams({ site, period: $('period').value, ...extra });

  async function load() {
    try {
      const agg = await api('stats/aggregate', params());
      const box = $('cards');
      box.textContent = '';
      const r = agg.results;
      for (const [key, label, fmt] of METRICS) {
        const v = r.suppressed ? `< ${r.k || agg.k}` : (fmt ? fmt(r[key]) : String(r[key]));
        box.append(el('div', { class: 'metric' }, el('div', { class: 'label', text: label }), el('div', { class: 'value', id: `metric-${key}`, text: v })));
      }
      const panels = $('panels');
      panels.textContent = '';
      for (const [dim, title] of PANELS) {
        const b = await api('stats/breakdown', params({ property: dim, limit: '10' }));
        const rows = b.results.slice();
        if (b.other) rows.push(b.other);
        const tbody = el('tbody');
        for (const row of rows) {
          const name = row.other ? '(other values)' : (row.value === '' ? '(none)' : row.value);
          const n = (v) => (row.suppressed ? `< ${row.k}` : String(v));
          tbody.append(el('tr', {}, el('td', { text: name }), el('td', { text: n(row.visitors) }), el('td', { text: n(row.pageviews) })));
        }
        const table = el('table', { 'data-dim': dim },
          el('thead', {}, el('tr', {}, el('th', { text: 'Value' }), el('th', { text: 'Visitors' }), el('th', { text: 'Pageviews' }))), tbody);
        panels.append(el('section', { class: 'panel', 'data-panel': title }, el('div', { class: 'panel-head' }, el('h2', { text: title })),
          el('div', { class: 'panel-body' }, rows.length ? table : el('div', { class: 'empty', text: 'No data for this period.' }))));
      }
      document.body.dataset.loaded = String(Date.now());
    } catch (err) {
      showError(err);
    }
  }

  async function start() {
    try {
      const info = await api('share');
      site = info.site;
      $('share-site').textContent = site;
    } catch (err) {
      showError(err);
      return;
    }
    $('period').addEventListener('change', load);
    load();
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
