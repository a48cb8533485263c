// Sezim dashboard: the "Shared links" panel. Staff who may see a site make,
// list and revoke read-only links to its dashboard (/api/v1/shares). Kept
// apart from app.js: it only reads the site picker (#site) and adds its
// own section at the end of the page.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') e.className = v;
      else if (k === 'text') e.textContent = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids) e.append(kid);
    return e;
  }
  async function call(method, path, body) {
    const res = await fetch(`/api/v1/${path}`, {
      method, credentials: 'same-origin',
      headers: body ? { 'Content-Type': 'application/json', Accept: 'application/json' } : { Accept: 'application/json' },
      body: body ? JSON.stringify(body) : undefined,
    });
    const out = await res.json().catch(() => ({}));
    if (!res.ok) throw new Error(out.error || `HTTP ${res.status}`);
    return out;
  }

  function start() {
    const sel = $('site');
    const main = document.querySelector('main');
    if (!sel || !main) return;
    const list = el('ul', { id: 'share-list', class: 'share-list' });
    const made = el('p', { id: 'share-made', class: 'note' });
    const msg = el('p', { id: 'share-msg', class: 'note', role: 'status' });
    const label = el('input', { id: 'share-label', placeholder: 'What it is for', maxlength: '100', 'aria-label': 'Label' });
    const password = el('input', { id: 'share-password', type: 'password', placeholder: 'Password (optional, 12+ characters)', autocomplete: 'new-password', 'aria-label': 'Password' });
    const form = el('form', { id: 'share-form', class: 'controls' }, label, password, el('button', { type: 'submit', id: 'share-create', text: 'Create link' }));
    const box = el('details', { id: 'shares', class: 'card' }, el('summary', { text: 'Shared links' }),
      el('p', { class: 'note', text: 'A shared link shows this site\'s dashboard, read only, to anyone who has it (and its password, if set). Revoke it to stop it at once.' }),
      form, made, msg, list);
    main.append(box);

    async function refresh() {
      if (!box.open || !sel.value) return;
      try {
        const r = await call('GET', `shares?site=${encodeURIComponent(sel.value)}`);
        list.textContent = '';
        for (const l of r.links) {
          const li = el('li', { 'data-share': l.id, class: l.revoked ? 'revoked' : 'live' },
            el('b', { text: l.label || l.id }),
            el('span', { class: 'note', text: ` ${l.created.slice(0, 10)} by ${l.created_by}${l.password ? ', with password' : ''}${l.revoked ? `, revoked by ${l.revoked_by}` : ''} ` }));
          if (!l.revoked) {
            li.append(el('button', { type: 'button', class: 'share-revoke', text: 'Revoke', onclick: async () => {
              try { await call('POST', `shares/${encodeURIComponent(l.id)}/revoke`); refresh(); } catch (err) { msg.textContent = err.message; }
            } }));
          }
          list.append(li);
        }
        if (!r.links.length) list.append(el('li', { class: 'note', text: 'No link yet.' }));
      } catch (err) {
        msg.textContent = err.message;
      }
    }
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      msg.textContent = '';
      try {
        const l = await call('POST', 'shares', { site: sel.value, label: label.value, password: password.value });
        made.textContent = '';
        made.append('New link (shown once): ', el('a', { id: 'share-url', href: l.url, text: new URL(l.url, location.href).href }));
        label.value = '';
        password.value = '';
        refresh();
      } catch (err) {
        msg.textContent = err.message;
      }
    });
    box.addEventListener('toggle', refresh);
    sel.addEventListener('change', () => { made.textContent = ''; refresh(); });
  }
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', start);
  else start();
}());
