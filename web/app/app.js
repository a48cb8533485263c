// Sezim dashboard: reads the stats API of the signed-in staff member and
// draws the page. No framework and no library: the chart is SVG made here.
// Every value from the API (page paths, UTM values) is untrusted text and
// only ever reaches the page through textContent or setAttribute.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = 'http://www.w3.org/2000/svg';
  // A shared link's page (/share/<token>, marked data-share) is this same
  // dashboard, read only, for the link's one site: it reads the stats API
  // under its own path, the only place its share session reaches.
  const SHARE = document.body.hasAttribute('data-share');
  const BASE = SHARE ? location.pathname.replace(/\/+$/, '') : '';

  const METRICS = [
    { key: 'visitors', label: 'Unique visitors', tip: 'A visitor is recognised only within one day (the daily hash changes at midnight and is destroyed). For one day this is the number of distinct visitors; for a longer period it is the sum of each day\'s visitors: someone who came on Monday and Tuesday counts twice.' },
    { key: 'visits', label: 'Visits', tip: 'A visit ends after 30 minutes without an event.' },
    { key: 'pageviews', label: 'Pageviews' },
    { key: 'views_per_visit', label: 'Views per visit', fmt: (v) => v.toFixed(2) },
    { key: 'bounce_rate', label: 'Bounce rate', fmt: (v) => `${Math.round(v)}%`, lowerIsBetter: true, tip: 'Visits with one page and no event.' },
    { key: 'visit_duration', label: 'Visit duration', fmt: duration },
  ];

  const PANELS = [
    { title: 'Pages', tabs: [['page', 'Pages'], ['entry_page', 'Entry pages'], ['exit_page', 'Exit pages']] },
    { title: 'Sources', tabs: [['channel', 'Channels'], ['source', 'Sources'], ['utm_source', 'UTM source'], ['utm_medium', 'Medium'], ['utm_campaign', 'Campaign'], ['utm_content', 'Content'], ['utm_term', 'Term']] },
    { title: 'Locations', tabs: [['country', 'Countries'], ['region', 'Regions'], ['language', 'Languages']] },
    { title: 'Devices', tabs: [['browser', 'Browsers'], ['browser_version', 'Versions'], ['os', 'OS'], ['device', 'Devices'], ['screen', 'Screens']] },
    { title: 'Custom events', tabs: [['event', 'Events']] },
  ];

  const state = { site: '', period: '7d', from: '', to: '', compare: false, filters: [], interval: '', metric: 'visitors', tabs: {}, goal: '', role: '' };
  let sites = [];
  let loadSeq = 0;

  function duration(s) {
    s = Math.round(s);
    if (s < 60) return `${s}s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m}m ${s % 60}s`;
    return `${Math.floor(m / 60)}h ${m % 60}m`;
  }
  const num = (v) => (v >= 10000 ? `${(v / 1000).toFixed(v >= 100000 ? 0 : 1)}k` : String(v));

  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? '' : v);
    }
    for (const kid of kids) if (kid !== null && kid !== undefined) e.append(kid);
    return e;
  }
  function svg(tag, attrs) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    return e;
  }

  // ---- state <-> URL -------------------------------------------------
  function readURL() {
    const q = new URLSearchParams(location.search);
    state.site = q.get('site') || '';
    state.period = q.get('period') || '7d';
    state.from = q.get('from') || '';
    state.to = q.get('to') || '';
    state.compare = q.get('compare') === 'previous';
    state.metric = q.get('metric') || 'visitors';
    state.interval = q.get('interval') || '';
    state.filters = q.getAll('filter').map(parseFilter).filter(Boolean);
    state.goal = q.get('goal') || '';
  }
  function writeURL() {
    const q = new URLSearchParams();
    q.set('site', state.site);
    q.set('period', state.period);
    if (state.period === 'custom') { q.set('from', state.from); q.set('to', state.to); }
    if (state.compare) q.set('compare', 'previous');
    for (const f of state.filters) q.append('filter', filterParam(f));
    if (state.interval) q.set('interval', state.interval);
    if (state.metric !== 'visitors') q.set('metric', state.metric);
    if (state.goal) q.set('goal', state.goal);
    history.replaceState(null, '', `${BASE || '/app/'}?${q}`);
  }
  function params(extra) {
    const q = new URLSearchParams({ site: state.site, period: state.period });
    if (state.period === 'custom') { q.set('from', state.from); q.set('to', state.to); }
    for (const f of state.filters) q.append('filter', filterParam(f));
    if (state.goal) q.set('goal', state.goal);
    for (const [k, v] of Object.entries(extra || {})) q.set(k, v);
    return q;
  }

  // ---- filters ------------------------------------------------------------
  // A filter is {dim, op, value}; op is the API's token: == (is), != (is
  // not), ~= (contains). The API says which combinations it can answer.
  const OPS = { '==': '=', '!=': '≠', '~=': 'contains' };
  function parseFilter(raw) {
    const m = /^([^=!~]+)(==|!=|~=)(.*)$/s.exec(raw);
    return m ? { dim: m[1], op: m[2], value: m[3] } : null;
  }
  const filterParam = (f) => `${f.dim}${f.op}${f.value}`;
  const filterText = (f) => `${f.dim} ${OPS[f.op]} ${f.value === '' ? '(none)' : f.value}`;
  function addFilter(f) {
    // Clicking a row replaces what filtered that property by equality.
    state.filters = state.filters.filter((g) => !(g.dim === f.dim && (f.op === '==' || filterParam(g) === filterParam(f))));
    state.filters.push(f);
    writeURL();
    load();
  }
  function removeFilter(i) {
    state.filters.splice(i, 1);
    writeURL();
    load();
  }
  function renderFilters() {
    const fb = $('filterbar');
    fb.hidden = state.filters.length === 0;
    const box = $('filter-text');
    box.textContent = '';
    state.filters.forEach((f, i) => {
      box.append(el('span', { class: 'chip', 'data-filter': filterParam(f) },
        el('span', { text: filterText(f) }),
        el('button', { type: 'button', class: 'chip-x', 'aria-label': `Remove the filter ${filterText(f)}`, onclick: () => removeFilter(i) })));
    });
    const one = state.filters.length === 1 && state.filters[0].op === '==' ? state.filters[0] : null;
    $('filter-note').textContent = one && (one.dim === 'page' || one.dim === 'event')
      ? `Panels show the visits that include this ${one.dim === 'page' ? 'page' : 'event'}; the totals and the chart show the ${one.dim} itself.`
      : 'Everything shows the visits that pass every filter; what the stored numbers cannot answer exactly says so.';
  }

  // ---- intervals ------------------------------------------------------------
  // Which intervals a period allows (the API's limits: hours up to 7 days,
  // weeks from 14, months from 28).
  function rangeDays() {
    const fixed = { today: 1, yesterday: 1, '7d': 7, '30d': 30, '90d': 90, month: 28 };
    if (state.period in fixed) return fixed[state.period];
    const a = Date.parse(state.from), b = Date.parse(state.to);
    return Number.isNaN(a) || Number.isNaN(b) ? 1 : Math.round((b - a) / 86400000) + 1;
  }
  function renderIntervals() {
    const days = rangeDays();
    const ok = { '': true, hour: days <= 7, day: true, week: days >= 14, month: days >= 28 };
    for (const o of $('interval').options) o.disabled = !ok[o.value];
    if (!ok[state.interval]) {
      state.interval = '';
      writeURL();
    }
    $('interval').value = state.interval;
  }

  async function api(path, q) {
    const res = await fetch(`${BASE}/api/v1/${path}${q ? `?${q}` : ''}`, { credentials: 'same-origin', headers: { Accept: 'application/json' } });
    if (res.status === 401 && !SHARE) { location.href = '/app/login'; throw new Error('signed out'); }
    // A revoked link answers 410: a reload shows its page saying so. An
    // ended share session (401) starts afresh on a reload, unless this page
    // has only just started one (cookies refused: no reload loop).
    if (SHARE && (res.status === 410 || (res.status === 401 && performance.now() > 60000))) { location.reload(); throw new Error('link closed'); }
    const body = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(body.error || `HTTP ${res.status}`);
    return body;
  }
  function showError(err) {
    const t = $('error');
    t.textContent = `Could not load: ${err.message}`;
    t.hidden = false;
    setTimeout(() => { t.hidden = true; }, 6000);
  }

  // ---- top line ------------------------------------------------------
  function suppressedText(m, k) { return `< ${m.k || k}`; }
  function renderCards(agg) {
    const box = $('cards');
    box.textContent = '';
    const r = agg.results;
    const p = agg.previous && agg.previous.results;
    for (const def of METRICS) {
      const fmt = def.fmt || num;
      const value = r.suppressed ? suppressedText(r, agg.k) : `${r.rounded ? '≈' : ''}${fmt(r[def.key])}`;
      let delta = null;
      if (p && !r.suppressed && !p.suppressed) {
        const a = r[def.key], b = p[def.key];
        if (b > 0) {
          const pct = Math.round(((a - b) / b) * 100);
          const good = def.lowerIsBetter ? pct < 0 : pct > 0;
          delta = el('div', { class: `delta ${pct === 0 ? '' : good ? 'up' : 'down'}`, text: `${pct > 0 ? '↑' : pct < 0 ? '↓' : '='} ${Math.abs(pct)}% vs ${fmt(b)}` });
        } else {
          delta = el('div', { class: 'delta', text: `previous: ${fmt(b)}` });
        }
      }
      const label = el('div', { class: 'label' }, def.label);
      if (def.tip) label.append(el('span', { class: 'tip', title: def.tip, 'aria-label': def.tip, tabindex: '0', text: 'i' }));
      const card = el('button', {
        type: 'button', class: `metric${state.metric === def.key ? ' on' : ''}`, 'data-metric': def.key,
        'aria-pressed': String(state.metric === def.key),
        onclick: () => { state.metric = def.key; writeURL(); load(); },
      }, label, el('div', { class: `value${r.suppressed ? ' supp' : ''}`, id: `metric-${def.key}`, text: value, title: r.suppressed ? `Fewer than ${agg.k} visitors: hidden` : null }), delta);
      box.append(card);
    }
    goalCards(agg);
  }

  // ---- chart -----------------------------------------------------------
  function renderChart(ts, prevTs) {
    const def = METRICS.find((m) => m.key === state.metric) || METRICS[0];
    $('chart-title').textContent = def.label;
    const box = $('chart');
    box.textContent = '';
    const pts = ts.results;
    const W = Math.max(box.clientWidth, 300), H = box.clientHeight || 240;
    const padL = 40, padB = 22, padT = 8, padR = 8;
    const vals = pts.map((p) => (p.suppressed ? null : p[def.key]));
    const prevVals = prevTs ? prevTs.results.map((p) => (p.suppressed ? null : p[def.key])) : [];
    const max = Math.max(def.fmt ? 0.01 : 1, ...vals.filter((v) => v !== null), ...prevVals.filter((v) => v !== null));
    const tick = niceStep(max / 4, !def.fmt);
    const ticks = Math.max(1, Math.ceil(max / tick));
    const nice = tick * ticks;
    const x = (i) => padL + (pts.length <= 1 ? 0 : (i * (W - padL - padR)) / (pts.length - 1));
    const y = (v) => padT + (H - padT - padB) * (1 - v / nice);
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
    for (let g = 0; g <= ticks; g++) {
      const v = tick * g;
      s.append(svg('line', { class: 'grid', x1: padL, x2: W - padR, y1: y(v), y2: y(v) }));
      const t = svg('text', { class: 'axis', x: padL - 6, y: y(v) + 4, 'text-anchor': 'end' });
      t.textContent = def.fmt ? def.fmt(v) : num(Math.round(v));
      s.append(t);
    }
    const hourly = ts.interval === 'hour';
    const label = (d) => (hourly ? d.slice(11, 16) : new Date(`${d}T00:00:00Z`).toLocaleDateString(undefined, { month: 'short', day: 'numeric', timeZone: 'UTC' }));
    const every = Math.max(1, Math.ceil(pts.length / Math.max(2, Math.floor(W / 70))));
    pts.forEach((p, i) => {
      if (i % every !== 0) return;
      const t = svg('text', { class: 'axis', x: x(i), y: H - 4, 'text-anchor': 'middle' });
      t.textContent = label(p.date);
      s.append(t);
    });
    const path = (vs) => {
      let d = '', pen = false;
      vs.forEach((v, i) => {
        if (v === null || v === undefined) { pen = false; return; }
        d += `${pen ? 'L' : 'M'}${x(i).toFixed(1)},${y(v).toFixed(1)}`;
        pen = true;
      });
      return d;
    };
    if (prevVals.length) s.append(svg('path', { class: 'prev', d: path(prevVals) }));
    const line = path(vals);
    if (line && !vals.includes(null)) {
      s.append(svg('path', { class: 'area', d: `${line}L${x(vals.length - 1)},${y(0)}L${x(0)},${y(0)}Z` }));
    }
    s.append(svg('path', { class: 'line', d: line }));
    const step = pts.length > 1 ? (W - padL - padR) / (pts.length - 1) : W;
    pts.forEach((p, i) => {
      if (p.suppressed) s.append(svg('circle', { class: 'hidden-pt', cx: x(i), cy: y(0), r: 3 }));
      const r = svg('rect', { class: 'hit', x: x(i) - step / 2, y: padT, width: step, height: H - padT - padB });
      const t = svg('title', {});
      const v = p.suppressed ? `< ${p.k || ts.k} visitors (hidden)` : `${(def.fmt || String)(p[def.key])} ${def.label.toLowerCase()}`;
      const pv = prevTs && prevTs.results[i] ? `\nprevious: ${prevTs.results[i].suppressed ? 'hidden' : (def.fmt || String)(prevTs.results[i][def.key])}` : '';
      t.textContent = `${hourly ? p.date.slice(0, 16).replace('T', ' ') : p.date}: ${v}${pv}`;
      r.append(t);
      s.append(r);
    });
    box.append(s);
    $('chart-note').textContent = pts.some((p) => p.suppressed) ? `Points from fewer than ${ts.k} visitors are hidden.` : '';
  }
  // niceStep rounds a grid step up to 1, 2 or 5 times a power of ten
  // (whole numbers for counts).
  function niceStep(v, whole) {
    if (whole && v <= 1) return 1;
    const p = 10 ** Math.floor(Math.log10(v));
    for (const m of [1, 2, 5]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- breakdown panels -------------------------------------------------
  function renderPanels() {
    const box = $('panels');
    box.textContent = '';
    PANELS.forEach((def, i) => {
      const dim = state.tabs[i] || def.tabs[0][0];
      const body = el('div', { class: 'panel-body' });
      const csv = el('a', { class: 'csv', href: `${BASE}/api/v1/stats/breakdown?${params({ property: dim, limit: 1000, format: 'csv' })}`, download: '', 'data-csv': dim, text: 'CSV' });
      const tabs = el('div', { class: 'tabs', role: 'tablist' });
      for (const [d, name] of def.tabs) {
        tabs.append(el('button', {
          type: 'button', role: 'tab', 'aria-selected': String(d === dim), 'data-dim': d, text: name,
          onclick: () => { state.tabs[i] = d; renderPanels(); },
        }));
      }
      const panel = el('section', { class: 'panel', 'data-panel': def.title },
        el('div', { class: 'panel-head' }, el('h2', { text: def.title }), tabs, csv), body);
      box.append(panel);
      loadPanel(dim, body);
    });
  }

  async function loadPanel(dim, body) {
    const seq = loadSeq;
    body.append(el('div', { class: 'empty', text: 'Loading…' }));
    // Under a filter every panel is cut by it (the API reads the pair
    // aggregates); a filter it cannot apply is answered 400 with the
    // reason, which the panel shows.
    let b;
    let goalNote = null;
    try {
      try {
        b = await api('stats/breakdown', params({ property: dim, limit: 10 }));
      } catch (err) {
        // Conversions this breakdown cannot have under the filters: its
        // rows without them, and the API's reason.
        if (!state.goal || state.filters.length === 0) throw err;
        const q = params({ property: dim, limit: 10 });
        q.delete('goal');
        b = await api('stats/breakdown', q);
        goalNote = el('div', { class: 'note goal-note', text: `No conversions here: ${err.message}` });
      }
    } catch (err) {
      body.textContent = '';
      body.append(el('div', { class: 'empty', text: err.message }));
      return;
    }
    if (seq !== loadSeq) return;
    body.textContent = '';
    body.parentElement.dataset.filtered = state.filters.map(filterParam).join(' ');
    const rows = b.results.slice();
    if (b.other) rows.push(b.other);
    if (!rows.length) {
      body.append(el('div', { class: 'empty', text: 'No data for this period.' }));
      return;
    }
    const key = dim === 'event' ? 'events' : 'visitors';
    const evs = dim === 'event' || dim.startsWith('prop:'); // properties count events, like event names
    const top = Math.max(1, ...rows.map((r) => (r.suppressed ? 0 : r[key] || 0)));
    const table = el('table', { 'data-dim': dim },
      el('thead', {}, el('tr', {}, el('th', { text: 'Value' }), el('th', { text: 'Visitors' }), el('th', { text: evs ? 'Events' : 'Pageviews' }), b.goal ? el('th', { text: 'CR' }) : null)));
    const tbody = el('tbody');
    for (const r of rows) {
      const cell = (v) => (r.suppressed
        ? el('td', { class: 'supp', title: `Fewer than ${r.k} visitors: hidden`, text: `< ${r.k}` })
        : el('td', { text: `${r.rounded ? '≈' : ''}${num(v)}`, title: r.rounded ? `Rounded to a multiple of ${2 * b.k}: a large row is shown rounded so that the small ones hidden beside it cannot be worked out` : null }));
      const width = r.suppressed ? 0 : Math.round((100 * (r[key] || 0)) / top);
      const name = r.other ? '(other values)' : (r.value === '' ? '(none)' : r.value);
      const first = el('td', { title: name }, el('div', { class: 'bg', style: `width:${width}%` }), el('span', { text: name }));
      const tr = el('tr', { class: r.other ? 'other' : 'row', 'data-value': r.other ? null : r.value }, first, cell(r.visitors), cell(evs ? r.events : r.pageviews), b.goal ? rateCell(r) : null);
      if (!r.other) {
        tr.tabIndex = 0;
        const pick = () => setFilter(dim, r.value);
        tr.addEventListener('click', pick);
        tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') pick(); });
      }
      tbody.append(tr);
    }
    table.append(tbody);
    if (goalNote) body.append(goalNote);
    body.append(table);
  }

  // ---- funnels -----------------------------------------------------------
  // A chooser of the site's funnels and one bar per step: the visits that
  // reached it (as a share of step 1), the conversion from the step before
  // and the drop-off. A suppressed step shows "< k". Funnels are counted per
  // visit and take no filter: under one, the panel says so.
  let funnelPick = '';
  let funnelSeq = 0;
  async function renderFunnels() {
    const seq = ++funnelSeq;
    let box = $('funnels');
    if (!box) {
      box = el('section', { id: 'funnels', class: 'card funnels', 'aria-label': 'Funnels' });
      $('panels').after(box);
    }
    let list;
    try {
      list = await api('stats/funnels', new URLSearchParams({ site: state.site }));
    } catch (err) {
      if (seq === funnelSeq) { box.textContent = ''; box.append(el('div', { class: 'empty', text: err.message })); }
      return;
    }
    if (seq !== funnelSeq) return;
    box.textContent = '';
    box.hidden = !list.funnels.length;
    if (!list.funnels.length) return;
    if (!list.funnels.some((f) => f.name === funnelPick)) funnelPick = list.funnels[0].name;
    const pick = el('select', { id: 'funnel', 'aria-label': 'Funnel' });
    for (const f of list.funnels) pick.append(el('option', { value: f.name, text: f.name }));
    pick.value = funnelPick;
    pick.addEventListener('change', () => { funnelPick = pick.value; renderFunnels(); });
    const body = el('div', { class: 'panel-body' });
    box.append(el('div', { class: 'panel-head' }, el('h2', { text: 'Funnels' }), pick,
      el('span', { class: 'note', text: state.filters.length ? 'All visits: funnels are not filtered.' : 'Visits that went through the steps in order.' })), body);
    const q = new URLSearchParams({ site: state.site, period: state.period, funnel: funnelPick });
    if (state.period === 'custom') { q.set('from', state.from); q.set('to', state.to); }
    let f;
    try {
      f = await api('stats/funnel', q);
    } catch (err) {
      if (seq === funnelSeq) body.append(el('div', { class: 'empty', text: err.message }));
      return;
    }
    if (seq !== funnelSeq) return;
    box.dataset.funnel = f.funnel;
    const first = f.steps[0] && !f.steps[0].suppressed ? f.steps[0].visits : 0;
    const rows = el('ol', { class: 'steps' });
    for (const st of f.steps) {
      const label = `${st.kind === 'event' ? 'Event ' : ''}${st.label}`;
      const width = st.suppressed || !first ? 0 : Math.round((100 * st.visits) / first);
      const nums = st.suppressed
        ? [el('span', { class: 'supp', title: `Fewer than ${st.k} visitors: hidden, with every step after it`, text: `< ${st.k}` })]
        : [el('b', { class: 'visits', text: num(st.visits) }), el('span', { class: 'note', text: ` visits · ${Math.round(st.conversion_from_first)}% of step 1` }),
          st.step > 1 ? el('span', { class: 'drop', text: ` · −${num(st.dropoff)} (${Math.round(st.dropoff_rate)}%) from step ${st.step - 1}` }) : null];
      rows.append(el('li', { class: 'step', 'data-step': String(st.step), 'data-suppressed': String(st.suppressed) },
        el('div', { class: 'step-head' }, el('span', { class: 'step-label', title: label, text: `${st.step}. ${label}` }), el('span', { class: 'step-nums' }, ...nums)),
        el('div', { class: 'step-bar' }, el('div', { class: 'fill', style: `width:${width}%` }))));
    }
    body.append(rows);
  }

  function setFilter(dim, value) {
    addFilter({ dim, op: '==', value });
  }

  // ---- goals and properties -------------------------------------------------
  // The goals panel lists each goal's conversions and conversion rate over
  // the period (unfiltered); choosing a goal adds its conversions and rate
  // to the totals and a CR column to every breakdown. Admins add and remove
  // the goals made here (the site file's are read-only). The site's
  // property keys become tabs of a Properties panel.
  function rateCell(r) {
    if (r.conversion_rate === null || r.conversion_rate === undefined) {
      return el('td', { class: 'supp', title: 'Not shown: too few visitors, or folded into (other)', text: '–' });
    }
    return el('td', { class: 'cr', title: `${r.conversions} converted`, text: `${r.conversion_rate}%` });
  }

  function goalCards(agg) {
    const r = agg.results;
    if (!agg.goal || r.conversions === undefined) return;
    const hidden = r.conversions === null;
    for (const [key, label, text] of [
      ['conversions', `Conversions: ${agg.goal}`, hidden ? `< ${agg.k}` : num(r.conversions)],
      ['conversion_rate', 'Conversion rate', hidden ? '–' : `${r.conversion_rate}%`],
    ]) {
      $('cards').append(el('div', { class: 'metric goal-card', 'data-metric': key },
        el('div', { class: 'label', text: label }), el('div', { class: `value${hidden ? ' supp' : ''}`, id: `metric-${key}`, text })));
    }
  }

  let meta = { site: '', goals: [], properties: [] };
  async function siteMeta() {
    if (meta.site !== state.site) {
      const m = await api('stats/goals', new URLSearchParams({ site: state.site }));
      meta = { site: state.site, goals: m.goals, properties: m.properties || [] };
      const i = PANELS.findIndex((p) => p.props);
      if (i >= 0) PANELS.splice(i, 1);
      if (meta.properties.length) {
        PANELS.push({ title: 'Properties', props: true, tabs: meta.properties.map((k) => [`prop:${k}`, k]) });
      }
    }
    return meta;
  }

  function setGoal(name) {
    // Filters stay: what the API cannot answer with the goal, it says why.
    state.goal = state.goal === name ? '' : name;
    writeURL();
    load();
  }

  async function goalWrite(method, q, body) {
    const res = await fetch(`/api/v1/stats/goals${q ? `?${q}` : ''}`, {
      method, credentials: 'same-origin',
      headers: { Accept: 'application/json', 'Content-Type': 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(out.error || `HTTP ${res.status}`);
    meta.site = ''; // read the goals again
  }

  function goalForm(box) {
    const name = el('input', { id: 'goal-name', 'aria-label': 'Goal name', placeholder: 'Name', maxlength: '100' });
    const kind = el('select', { id: 'goal-kind', 'aria-label': 'Goal kind' },
      el('option', { value: 'event', text: 'Custom event' }), el('option', { value: 'page', text: 'Page (* matches anything)' }));
    const value = el('input', { id: 'goal-value', 'aria-label': 'Event name or page', placeholder: 'signup or /signup/*' });
    const form = el('form', { class: 'goal-form', id: 'goal-form' }, name, kind, value, el('button', { type: 'submit', id: 'goal-add', text: 'Add goal' }));
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const g = { site: state.site, name: name.value.trim() };
      g[kind.value] = value.value.trim();
      try {
        await goalWrite('PUT', null, g);
        load();
      } catch (err) { showError(err); }
    });
    box.append(form);
  }

  async function renderGoals() {
    const seq = loadSeq;
    const box = $('goals');
    let m, b;
    try {
      m = await siteMeta();
      if (seq !== loadSeq) return;
      // The site's first load learns its property keys only now.
      if (Boolean(document.querySelector('.panel[data-panel="Properties"]')) !== PANELS.some((p) => p.props)) renderPanels();
      const q = new URLSearchParams({ site: state.site, period: state.period, property: 'goal', limit: 100 });
      if (state.period === 'custom') { q.set('from', state.from); q.set('to', state.to); }
      b = m.goals.length ? await api('stats/breakdown', q) : { results: [] };
    } catch (err) {
      box.textContent = '';
      box.append(el('div', { class: 'empty', text: err.message }));
      return;
    }
    if (seq !== loadSeq) return;
    box.textContent = '';
    box.append(el('div', { class: 'panel-head' }, el('h2', { text: 'Goals' }), state.goal ? el('span', { class: 'note', text: `Breakdowns show conversions to ${state.goal}` }) : null));
    const byName = new Map(b.results.map((r) => [r.value, r]));
    const table = el('table', { id: 'goals-table' },
      el('thead', {}, el('tr', {}, el('th', { text: 'Goal' }), el('th', { text: 'Conversions' }), el('th', { text: 'CR' }), state.role === 'admin' ? el('th', { text: '' }) : null)));
    const tbody = el('tbody');
    for (const g of m.goals) {
      const r = byName.get(g.name) || { conversions: 0, conversion_rate: 0, visitors: 0 };
      const conv = r.suppressed ? el('td', { class: 'supp', title: `Fewer than ${r.k} visitors: hidden`, text: `< ${r.k}` }) : el('td', { text: num(r.conversions || 0) });
      const tr = el('tr', { class: `row${state.goal === g.name ? ' on' : ''}`, 'data-goal': g.name, tabindex: '0', 'aria-pressed': String(state.goal === g.name) },
        el('td', { title: g.event ? `event ${g.event}` : `page ${g.page}` }, el('span', { text: g.name })), conv, rateCell(r.suppressed ? {} : r));
      tr.addEventListener('click', () => setGoal(g.name));
      tr.addEventListener('keydown', (e) => { if (e.key === 'Enter') setGoal(g.name); });
      if (state.role === 'admin') {
        const td = el('td');
        if (g.source === 'console') {
          td.append(el('button', { type: 'button', class: 'goal-del', 'aria-label': `Remove goal ${g.name}`, text: '✕',
            onclick: async (e) => {
              e.stopPropagation();
              try {
                await goalWrite('DELETE', new URLSearchParams({ site: state.site, name: g.name }));
                if (state.goal === g.name) state.goal = '';
                load();
              } catch (err) { showError(err); }
            } }));
        }
        tr.append(td);
      }
      tbody.append(tr);
    }
    table.append(tbody);
    if (m.goals.length) box.append(table);
    else box.append(el('div', { class: 'empty', text: 'No goals yet.' }));
    if (state.role === 'admin') goalForm(box);
  }

  // ---- loading ------------------------------------------------------------
  async function load() {
    loadSeq++;
    const seq = loadSeq;
    $('period').value = state.period;
    $('custom').hidden = state.period !== 'custom';
    $('compare').checked = state.compare;
    if (!SHARE) $('site').value = state.site;
    renderFilters();
    renderIntervals();
    renderPanels();
    renderFunnels();
    renderGoals();
    try {
      const aggQ = params(state.compare ? { compare: 'previous' } : {});
      const tsQ = params(state.interval ? { interval: state.interval } : {});
      // A goal the filters leave unanswered (for the totals, or only for
      // the chart, e.g. by hours): that answer without it, and the reason.
      const answer = async (path, q) => {
        try {
          return [await api(path, q), null];
        } catch (err) {
          if (!state.goal || state.filters.length === 0) throw err;
          const plain = new URLSearchParams(q);
          plain.delete('goal');
          return [await api(path, plain), err];
        }
      };
      const [[agg, aggErr], [ts, tsErr]] = await Promise.all([answer('stats/aggregate', aggQ), answer('stats/timeseries', tsQ)]);
      if (aggErr || tsErr) showError(aggErr || tsErr);
      if (seq !== loadSeq) return;
      $('range').textContent = agg.range.from === agg.range.to ? agg.range.from : `${agg.range.from} – ${agg.range.to}`;
      renderCards(agg);
      let prevTs = null;
      if (state.compare && agg.previous) {
        const q = params({ period: 'custom', from: agg.previous.range.from, to: agg.previous.range.to, interval: ts.interval });
        prevTs = await api('stats/timeseries', q);
        if (seq !== loadSeq) return;
      }
      renderChart(ts, prevTs);
      document.body.dataset.loaded = String(seq);
    } catch (err) {
      showError(err);
    }
  }

  // "updated N s ago": the realtime answer says how old the aggregates are;
  // between its polls the page counts on from when it asked.
  let updated = null;
  function ago(s) {
    if (s < 120) return `${s} s`;
    if (s < 7200) return `${Math.floor(s / 60)} min`;
    return `${Math.floor(s / 3600)} h`;
  }
  function renderUpdated() {
    const u = $('updated');
    u.hidden = updated === null;
    if (updated !== null) u.textContent = `updated ${ago(updated.s + Math.floor((Date.now() - updated.at) / 1000))} ago`;
  }

  async function realtime() {
    if (!state.site) return;
    try {
      const r = await api('stats/realtime', new URLSearchParams({ site: state.site }));
      $('realtime-n').textContent = String(r.visitors);
      updated = typeof r.updated_seconds_ago === 'number' ? { s: r.updated_seconds_ago, at: Date.now() } : null;
      renderUpdated();
    } catch { /* shown on the next full load */ }
  }

  // ---- realtime view ---------------------------------------------------------
  // The last 30 minutes by minute, top pages and sources now; it asks
  // again every 10 s while it is open.
  let live = null;
  function toggleLive() {
    const open = !live;
    $('live').hidden = !open;
    $('realtime-toggle').setAttribute('aria-expanded', String(open));
    if (open) {
      live = setInterval(liveLoad, 10000);
      liveLoad();
    } else {
      clearInterval(live);
      live = null;
    }
  }
  function liveTable(title, b) {
    const rows = b.results.slice();
    if (b.other) rows.push(b.other);
    const box = el('div', {}, el('h3', { text: title }));
    if (!rows.length) {
      box.append(el('div', { class: 'empty', text: 'Nobody right now.' }));
      return box;
    }
    const tbody = el('tbody');
    for (const r of rows) {
      const cell = (v) => (r.suppressed ? el('td', { class: 'supp', text: `< ${r.k}` }) : el('td', { text: num(v) }));
      tbody.append(el('tr', { class: r.other ? 'other' : 'live-row', 'data-value': r.other ? null : r.value },
        el('td', { title: r.value, text: r.other ? '(other values)' : r.value }), cell(r.visitors), cell(r.pageviews)));
    }
    box.append(el('table', {}, el('thead', {}, el('tr', {}, el('th', { text: 'Value' }), el('th', { text: 'Visitors' }), el('th', { text: 'Pageviews' }))), tbody));
    return box;
  }
  async function liveLoad() {
    if (!state.site) return;
    let v;
    try {
      v = await api('stats/realtime/detail', new URLSearchParams({ site: state.site }));
    } catch (err) {
      showError(err);
      return;
    }
    if (!live) return;
    $('live-visitors').textContent = String(v.visitors);
    const box = $('live-chart');
    box.textContent = '';
    const W = Math.max(box.clientWidth, 300), H = box.clientHeight || 120, padB = 16;
    const max = Math.max(1, ...v.minutes.map((m) => (m.suppressed ? 0 : m.visitors)));
    const w = W / v.minutes.length;
    const s = svg('svg', { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: 'none' });
    v.minutes.forEach((m, i) => {
      const h = m.suppressed ? 4 : ((H - padB) * m.visitors) / max;
      const r = svg('rect', { class: m.suppressed ? 'bar-h' : 'bar-v', x: i * w + 1, y: H - padB - h, width: Math.max(1, w - 2), height: h, 'data-minute': m.date.slice(11, 16) });
      const t = svg('title', {});
      t.textContent = `${m.date.slice(11, 16)}: ${m.suppressed ? `< ${m.k} visitors (hidden)` : `${m.visitors} visitors, ${m.pageviews} pageviews`}`;
      r.append(t);
      s.append(r);
      if (i % 5 === 0) {
        const l = svg('text', { class: 'axis', x: i * w + w / 2, y: H - 2, 'text-anchor': 'middle' });
        l.textContent = m.date.slice(11, 16);
        s.append(l);
      }
    });
    box.append(s);
    $('live-pages').replaceChildren(liveTable('Top pages', v.pages));
    $('live-sources').replaceChildren(liveTable('Top sources', v.sources));
    $('live').dataset.loaded = String(Date.now());
  }

  async function start() {
    readURL();
    let me;
    try {
      // A shared page acts as its link: one site, no role, no editing.
      me = SHARE ? await api('share').then((i) => ({ user: '', role: '', sites: [{ id: i.site }] })) : await api('me');
    } catch (err) {
      showError(err);
      return;
    }
    sites = me.sites;
    if (!SHARE) $('who').textContent = `${me.user} · ${me.role}`;
    state.role = me.role;
    // The privacy console is for the privacy and admin roles (the server
    // refuses everyone else): others get no link to it at all.
    if (me.role === 'privacy' || me.role === 'admin') {
      $('who').before(el('a', { id: 'privacy-link', class: 'plink', href: '/app/privacy/', text: 'Privacy console' }));
    }
    // A shared page has no site picker: a detached one keeps what follows alike.
    const sel = SHARE ? el('select') : $('site');
    for (const s of sites) sel.append(el('option', { value: s.id, text: s.id }));
    if (!sites.length) {
      $('cards').append(el('p', { class: 'empty', text: 'No site has been granted to this account yet.' }));
      return;
    }
    if (!sites.some((s) => s.id === state.site)) state.site = sites[0].id;
    if (SHARE) $('share-site').textContent = state.site;
    sel.addEventListener('change', () => { state.site = sel.value; state.filters = []; state.goal = ''; writeURL(); load(); realtime(); if (live) liveLoad(); });
    $('period').addEventListener('change', (e) => {
      state.period = e.target.value;
      if (state.period === 'custom') {
        $('custom').hidden = false;
        if (!state.from) {
          const d = new Date();
          $('to').value = d.toISOString().slice(0, 10);
          d.setDate(d.getDate() - 13);
          $('from').value = d.toISOString().slice(0, 10);
        }
        return;
      }
      writeURL();
      load();
    });
    $('apply').addEventListener('click', () => {
      if (!$('from').value || !$('to').value) return;
      state.from = $('from').value;
      state.to = $('to').value;
      writeURL();
      load();
    });
    $('from').value = state.from;
    $('to').value = state.to;
    $('compare').addEventListener('change', (e) => { state.compare = e.target.checked; writeURL(); load(); });
    $('clear-filter').addEventListener('click', () => { state.filters = []; writeURL(); load(); });
    const addDim = $('add-dim');
    for (const def of PANELS) for (const [d, name] of def.tabs) addDim.append(el('option', { value: d, text: name }));
    $('add-filter').addEventListener('submit', (e) => {
      e.preventDefault();
      const value = $('add-value').value.trim();
      if (!value) return;
      $('add-value').value = '';
      addFilter({ dim: addDim.value, op: $('add-op').value, value });
    });
    $('interval').addEventListener('change', (e) => { state.interval = e.target.value; writeURL(); load(); });
    $('realtime-toggle').addEventListener('click', toggleLive);
    let resize;
    window.addEventListener('resize', () => { clearTimeout(resize); resize = setTimeout(load, 250); });
    writeURL();
    load();
    realtime();
    setInterval(realtime, 30000);
    setInterval(renderUpdated, 5000);
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
