// Running the real `sezim` binary from a browser test: build it (or take
// SEZIM_BIN), run one-shot commands, and start `sezim serve` and wait until
// it is ready. Used by every test that runs the real binary.
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import net from 'node:net';
import path from 'node:path';
import { access } from 'node:fs/promises';
import { repoRoot } from './lib.mjs';

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls fn until it returns a truthy value; throws what describe() says after timeout ms. */
export async function waitFor(fn, { timeout, interval = 200, describe }) {
  const deadline = Date.now() + timeout;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`gave up after ${timeout} ms: ${await describe()}`);
    await sleep(interval);
  }
}

/** A port of 127.0.0.1 that was free a moment ago. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** SEZIM_BIN, or ./cmd/sezim built into dir. */
export async function buildSezim(dir) {
  if (process.env.SEZIM_BIN) return process.env.SEZIM_BIN;
  const bin = path.join(dir, 'sezim');
  await promisify(execFile)('go', ['build', '-o', bin, './cmd/sezim'], { cwd: repoRoot, maxBuffer: 16 << 20 });
  return bin;
}

/** Runs a one-shot command; resolves {code, stdout, stderr}, whatever the exit code. */
export function runSezim(bin, args, { env = process.env, stdin = '' } = {}) {
  return new Promise((resolve, reject) => {
    const p = spawn(bin, args, { env });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (c) => { stdout += c; });
    p.stderr.on('data', (c) => { stderr += c; });
    p.once('error', reject);
    p.once('exit', (code) => resolve({ code, stdout, stderr }));
    p.stdin.end(stdin);
  });
}

/** Runs a one-shot command that must succeed; resolves its trimmed stdout. */
export async function runSezimOK(bin, args, { env = process.env, stdin = '' } = {}) {
  const r = await runSezim(bin, args, { env, stdin });
  if (r.code !== 0) throw new Error(`sezim ${args.join(' ')}: exit ${r.code}\n${r.stderr}`);
  return r.stdout.trim();
}

/**
 * Starts `sezim serve` with args and waits until adminOrigin/readyz answers
 * 200. Output is collected in out for a failure report; stop() sends
 * SIGTERM (SIGKILL after grace ms) and resolves the exit status.
 */
export async function startServe(bin, args, { adminOrigin, env = process.env, timeout = 60_000 }) {
  const proc = spawn(bin, ['serve', ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  const out = { stdout: '', stderr: '' };
  proc.stdout.on('data', (c) => { out.stdout += c; });
  proc.stderr.on('data', (c) => { out.stderr += c; });
  let status = null;
  const exited = new Promise((resolve) => {
    proc.once('exit', (code, signal) => resolve({ code, signal }));
    proc.once('error', (err) => resolve({ code: null, signal: null, err }));
  }).then((s) => { status = s; return s; });
  const srv = {
    proc,
    out,
    status: () => status,
    stop: async (grace = 20_000) => {
      if (status) return status;
      proc.kill('SIGTERM');
      let timer;
      const s = await Promise.race([exited, new Promise((r) => { timer = setTimeout(() => r(null), grace); })]);
      clearTimeout(timer);
      if (s) return s;
      proc.kill('SIGKILL');
      return { ...(await exited), killed: true };
    },
  };
  let last = 'no answer';
  try {
    await waitFor(async () => {
      if (status) throw new Error(`sezim serve exited before it was ready (code ${status.code}, signal ${status.signal}${status.err ? `, ${status.err.message}` : ''}):\n${out.stderr}`);
      try {
        const res = await fetch(`${adminOrigin}/readyz`);
        last = `HTTP ${res.status} ${await res.text()}`;
        return res.status === 200;
      } catch (err) {
        last = err.cause?.code || err.message;
        return false;
      }
    }, { timeout, interval: 250, describe: () => `GET ${adminOrigin}/readyz: ${last}` });
  } catch (err) {
    await srv.stop(5000);
    throw err;
  }
  return srv;
}

/**
 * Returns the embedded engine's library for a test that serves with it,
 * or null after marking test t skipped when it is missing (an error under
 * CI, where it must be installed).
 */
export async function chdbLib(t) {
  const lib = process.env.CHDB_LIB_PATH || path.join(repoRoot, '.cache', 'chdb', 'libchdb.so');
  try {
    await access(lib);
    return lib;
  } catch {
    const msg = `libchdb not found at ${lib}: run \`make chdb\` or set CHDB_LIB_PATH`;
    if (process.env.CI === 'true') throw new Error(msg);
    t.skip(msg);
    return null;
  }
}

/** Signs user in on the dashboards at dash and waits for the dashboard. */
export async function signIn(page, dash, user, password) {
  await page.goto(`${dash}/app/login`);
  await page.fill('#user', user);
  await page.fill('#password', password);
  await Promise.all([page.waitForURL(/\/app\/\?/), page.click('button[type=submit]')]);
}
