// Shared plumbing for the browser tests: a fresh Chromium per test, and the
// target under test (the recorder by default, or a real collector and site
// page named by the environment), seen through collectorHits().
import { chromium } from 'playwright-core';
import { mkdtemp, rm, mkdir } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import os from 'node:os';
import path from 'node:path';
import { startRecorder } from './recorder.mjs';

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const artifactsDir = path.join(repoRoot, 'test-artifacts');

// Debian's Chromium, as root, on a machine whose network is closed: without
// the background-networking flags it spends its start-up on refused
// connections to Google's services.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-quic',
  '--no-first-run',
  '--disable-component-update',
  '--disable-sync',
];

/**
 * Launches Chromium with a new, empty profile that is deleted on close, so
 * no test inherits another's cookies or storage. Returns the context, its
 * first page, and close().
 */
export async function startBrowser({ args = [] } = {}) {
  const userDataDir = await mkdtemp(path.join(os.tmpdir(), 'sezim-chromium-'));
  let context;
  try {
    // The persistent context is how Playwright takes our --user-data-dir.
    context = await chromium.launchPersistentContext(userDataDir, {
      executablePath: process.env.SEZIM_CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: [...CHROMIUM_ARGS, ...args],
    });
  } catch (err) {
    await rm(userDataDir, { recursive: true, force: true });
    throw err;
  }
  const page = context.pages()[0] || (await context.newPage());
  return {
    context,
    page,
    userDataDir,
    close: async () => {
      await context.close();
      await rm(userDataDir, { recursive: true, force: true });
    },
  };
}

/**
 * Returns what the tests run against.
 *
 * With SEZIM_COLLECTOR_URL and SEZIM_SITE_PAGE_URL set, that collector and a
 * page (served by something else) that embeds its tracker for SEZIM_SITE_ID;
 * hits are read from SEZIM_HITS_URL (default: the collector's /__hits), which
 * a real collector does not have: point it at whatever exposes what the
 * collector received, or replace collectorHits for that target.
 *
 * Otherwise the recorder, with the page and the collector on two ports and
 * two host names (site.test, collector.test) that the browser maps to
 * 127.0.0.1, so every request is cross-site as on a real site.
 * The recorder's page takes variants in its query string (recorder.mjs); an
 * external target has none, and tests that need them skip.
 */
export async function startTarget() {
  const env = process.env;
  const siteID = env.SEZIM_SITE_ID || 'test-site';
  if (env.SEZIM_COLLECTOR_URL || env.SEZIM_SITE_PAGE_URL) {
    if (!env.SEZIM_COLLECTOR_URL || !env.SEZIM_SITE_PAGE_URL) {
      throw new Error('set both SEZIM_COLLECTOR_URL and SEZIM_SITE_PAGE_URL, or neither');
    }
    const collectorOrigin = new URL(env.SEZIM_COLLECTOR_URL).origin;
    return {
      external: true,
      siteID,
      collectorOrigin,
      pageURL: env.SEZIM_SITE_PAGE_URL,
      pageOrigin: new URL(env.SEZIM_SITE_PAGE_URL).origin,
      hitsURL: env.SEZIM_HITS_URL || `${collectorOrigin}/__hits`,
      browserArgs: [],
      close: async () => {},
    };
  }
  const rec = await startRecorder({ siteID, pageHost: 'site.test', collectorHost: 'collector.test' });
  return {
    ...rec,
    external: false,
    browserArgs: ['--host-resolver-rules=MAP site.test 127.0.0.1, MAP collector.test 127.0.0.1'],
  };
}

/**
 * Returns every hit the target's collector received, oldest first, each as
 * { seq, via: 'beacon'|'pixel', origin, cookie, contentType, body, query,
 * fields, ev } where ev is the event with the wire names (s, u, r, w, l, n, p)
 * and w a number whichever way it came, fields the names that were sent, and
 * body (a beacon's) and query (a pixel's, as in its URL) the raw bytes.
 */
export async function collectorHits(target) {
  const res = await fetch(target.hitsURL, { cache: 'no-store' });
  if (!res.ok) throw new Error(`cannot read hits from ${target.hitsURL}: HTTP ${res.status}`);
  const raw = await res.json();
  return raw.map((h) => {
    const d = h.data || {};
    const ev = { ...d };
    if (ev.w !== undefined) ev.w = Number(ev.w);
    return {
      seq: h.seq,
      via: h.via,
      origin: h.origin,
      cookie: h.cookie,
      contentType: h.contentType || '',
      body: h.body || '',
      query: h.query || '',
      fields: Object.keys(d).sort(),
      ev,
    };
  });
}

/**
 * Polls collectorHits until at least n hits pass match, and returns those.
 * Beacons are delivered asynchronously, after the page's code has returned.
 */
export async function waitForHits(target, match, n, { timeout = 5000 } = {}) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const got = (await collectorHits(target)).filter(match);
    if (got.length >= n) return got;
    if (Date.now() > deadline) {
      throw new Error(`waited ${timeout} ms for ${n} hits, got ${got.length}: ${JSON.stringify(got, null, 1)}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Saves a full-page screenshot to test-artifacts/NAME.png and returns its path. */
export async function screenshot(page, name) {
  await mkdir(artifactsDir, { recursive: true });
  const file = path.join(artifactsDir, `${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
