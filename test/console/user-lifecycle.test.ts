import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { startPier } from '../../src/main.js';
import { freshDatabase } from '../harness.js';

/**
 * A console user's life after creation (decision 0108), as it happens: a Pier server listening on
 * HTTP, browsers that keep cookies, and the operator's `pier user …` in child processes on the same
 * database. Passwords are rotated, users unlocked and removed; every session of the user ends.
 */
const ROOT = resolve(import.meta.dirname, '..', '..');
let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let pier: Awaited<ReturnType<typeof startPier>>;
let base: string;

function cliEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return Object.assign(env, { DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9' });
}

/** `pier …` as an operator runs it; `stdin` is piped in (and the pipe closed) when given. */
function run(args: string[], stdin?: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env: cliEnv(), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
    if (stdin !== undefined) child.stdin!.end(stdin);
    else child.stdin!.end();
  });
}

/** A browser: keeps the console's cookies, echoes the CSRF token, follows no redirect. */
class Browser {
  cookies = new Map<string, string>();
  csrf = '';

  async request(method: string, path: string, o: { form?: Record<string, string>; json?: unknown; csrfHeader?: boolean } = {}) {
    const headers: Record<string, string> = {};
    if (this.cookies.size) headers.cookie = [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
    let body: string | undefined;
    if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(o.form).toString();
    } else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(o.json);
    }
    if (o.csrfHeader) headers['x-csrf-token'] = this.csrf;
    const res = await fetch(base + path, { method, headers, body, redirect: 'manual' });
    for (const c of res.headers.getSetCookie()) {
      const [pair, ...attrs] = c.split(';');
      const [name, value] = [pair.slice(0, pair.indexOf('=')), pair.slice(pair.indexOf('=') + 1)];
      if (value === '' || attrs.some((a) => /^\s*max-age=0$/i.test(a))) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
    const text = await res.text();
    const meta = /<meta name="csrf-token" content="([^"]+)">/.exec(text);
    if (meta) this.csrf = meta[1];
    return { status: res.status, location: res.headers.get('location'), text, json: text.startsWith('{') ? JSON.parse(text) : null };
  }

  async signIn(email: string, password: string) {
    const page = await this.request('GET', '/console/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.text)![1];
    const res = await this.request('POST', '/console/login', { form: { _csrf: token, email, password } });
    if (res.status === 303) this.csrf = (await this.request('GET', '/console/api/session')).json.csrfToken;
    return res;
  }

  /** 200 while the browser's session lives, 401 once it ended */
  async sessionStatus() {
    return (await this.request('GET', '/console/api/session')).status;
  }

  /** another browser holding copies of this one's cookies (a stolen session) */
  copy(): Browser {
    const b = new Browser();
    b.cookies = new Map(this.cookies);
    b.csrf = this.csrf;
    return b;
  }
}

async function signedIn(email: string, password: string): Promise<Browser> {
  const b = new Browser();
  expect((await b.signIn(email, password)).status).toBe(303);
  expect(await b.sessionStatus()).toBe(200);
  return b;
}

/** whether an e-mail and password sign in, from a fresh browser */
async function signsIn(email: string, password: string): Promise<boolean> {
  const res = await new Browser().signIn(email, password);
  expect([303, 401]).toContain(res.status);
  return res.status === 303;
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-user-lifecycle-'));
  db = await freshDatabase();
  const spy = vi.spyOn(process.stdout, 'write').mockImplementation(() => true);
  try {
    pier = await startPier(
      loadConfig({ PORT: '0', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0', PIER_RATE_LIMIT_PER_IP: '1000', PIER_RATE_LIMIT_PER_KEY: '1000' }),
    );
  } finally {
    spy.mockRestore();
  }
  base = pier.address;
  const m = await run(['merchant', 'create', '--name', 'Lifecycle Shop', '--code', 'imp30400001']);
  expect(m.stderr).toBe('');
  const other = await run(['merchant', 'create', '--name', 'Other Shop', '--code', 'imp30400002']);
  expect(other.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await pier?.stop();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

async function newUser(email: string, password: string) {
  const made = await run(['user', 'create', 'imp30400001', '--email', email, '--password-stdin'], `${password}\n`);
  expect(made.stderr).toBe('');
  expect(made.stdout).toContain(`created console user ${email} for imp30400001`);
  expect(made.stdout).not.toContain(password);
}

describe('pier user set-password', () => {
  it('replaces a leaked password read from stdin, never from argv: the old one is refused and every session, a stolen copy included, ends', async () => {
    const email = 'leak@shop.example';
    const leaked = 'leaked-password-1';
    const fresh = 'fresh-password-22';
    await newUser(email, leaked);
    const office = await signedIn(email, leaked);
    const attacker = await signedIn(email, leaked); // signed in with the leaked password
    const stolen = office.copy(); // and a copy of the office's cookie

    // the operator pipes the new password in; while the command waits for it, its command line
    // (what `ps` shows every user of the machine) carries no password
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'pier.js'), 'user', 'set-password', 'imp30400001', email, '--password-stdin'], { cwd: ROOT, env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('set-password');
    expect(cmdline.join(' ')).not.toContain(fresh);
    child.stdin.end(`${fresh}\n`);
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain(`set a new password for console user ${email} of imp30400001`);
    expect(stdout).toContain('2 open session(s) of the user ended');
    expect(stdout).not.toContain(fresh);

    expect(await office.sessionStatus()).toBe(401);
    expect(await attacker.sessionStatus()).toBe(401);
    expect(await stolen.sessionStatus()).toBe(401);
    // the stolen cookie cannot change anything either
    expect((await stolen.request('POST', '/console/api/keys/rotate', { json: {}, csrfHeader: true })).status).toBe(401);
    expect(await signsIn(email, leaked)).toBe(false);
    expect(await signsIn(email, fresh)).toBe(true);

    // there is no option that takes the password on the command line
    const argv = await run(['user', 'set-password', 'imp30400001', email, '--password', 'argv-password-3']);
    expect(argv.code).not.toBe(0);
    expect(argv.stderr).toContain("unknown option '--password'");
    expect(await signsIn(email, 'argv-password-3')).toBe(false);
  }, 120_000);

  it('generates a password shown once when none is piped in, and refuses a short one or a user of another merchant', async () => {
    const email = 'forgot@shop.example';
    await newUser(email, 'forgotten-password');
    const gen = await run(['user', 'set-password', 'imp30400001', email]);
    expect(gen.stderr).toBe('');
    const password = /^\s*password\s+(\S+)/m.exec(gen.stdout)![1];
    expect(password.length).toBe(20);
    expect(gen.stdout).toContain('0 open session(s) of the user ended');
    expect(await signsIn(email, password)).toBe(true);
    expect(await signsIn(email, 'forgotten-password')).toBe(false);

    const short = await run(['user', 'set-password', 'imp30400001', email, '--password-stdin'], 'short\n');
    expect(short.code).toBe(1);
    expect(short.stderr).toBe('pier: the password on stdin: 10 to 200 characters\n');
    // the e-mail is right but the merchant is not: nothing changes
    const wrongMerchant = await run(['user', 'set-password', 'imp30400002', email, '--password-stdin'], 'someone-elses-password\n');
    expect(wrongMerchant.code).toBe(1);
    expect(wrongMerchant.stderr).toContain(`merchant imp30400002 has no console user ${email}`);
    expect(await signsIn(email, password)).toBe(true);
    expect(await signsIn(email, 'someone-elses-password')).toBe(false);
  }, 120_000);
});

describe('pier user unlock', () => {
  it('lifts the lock 5 wrong passwords put on a user: the right password signs in again at once', async () => {
    const email = 'locked@shop.example';
    const password = 'right-password-44';
    await newUser(email, password);
    for (let i = 0; i < 5; i++) expect(await signsIn(email, `guess-number-${i}`)).toBe(false);
    expect(await signsIn(email, password)).toBe(false); // locked: even the right password is refused
    expect((await run(['user', 'list', 'imp30400001'])).stdout).toMatch(/locked@shop\.example .* until \d{4}-/);

    const unlocked = await run(['user', 'unlock', 'imp30400001', email]);
    expect(unlocked.stderr).toBe('');
    expect(unlocked.stdout).toContain(`unlocked console user ${email} of imp30400001`);
    expect((await run(['user', 'list', 'imp30400001'])).stdout).toMatch(/locked@shop\.example .* no\n/);
    const browser = await signedIn(email, password);

    // unlocking a user who is not locked resets the count and ends their sessions too
    const again = await run(['user', 'unlock', 'imp30400001', email]);
    expect(again.stdout).toContain('was not locked');
    expect(again.stdout).toContain('1 open session(s) of the user ended');
    expect(await browser.sessionStatus()).toBe(401);
    const missing = await run(['user', 'unlock', 'imp30400001', 'nobody@shop.example']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('merchant imp30400001 has no console user nobody@shop.example');
  }, 120_000);
});

describe('pier user remove', () => {
  it('removes a user: their open session ends at once and the e-mail signs in no more', async () => {
    const email = 'leaver@shop.example';
    const password = 'leaver-password-5';
    await newUser(email, password);
    const browser = await signedIn(email, password);
    const notTheirs = await run(['user', 'remove', 'imp30400002', email]);
    expect(notTheirs.code).toBe(1);
    expect(await browser.sessionStatus()).toBe(200);

    const removed = await run(['user', 'remove', 'imp30400001', email]);
    expect(removed.stderr).toBe('');
    expect(removed.stdout).toContain(`removed console user ${email} of imp30400001`);
    expect(removed.stdout).toContain('1 open session(s) of the user ended');
    expect(await browser.sessionStatus()).toBe(401);
    expect((await browser.request('GET', '/console/payments')).location).toMatch(/^\/console\/login/);
    expect(await signsIn(email, password)).toBe(false);
    expect((await run(['user', 'list', 'imp30400001'])).stdout).not.toContain(email);
    // the e-mail is free again
    await newUser(email, 'returning-password');
    expect(await signsIn(email, 'returning-password')).toBe(true);
  }, 120_000);
});

describe("the console's password change", () => {
  it('needs the current password and the CSRF token, keeps this browser signed in on a new session and ends every other, a copy of its own cookie included', async () => {
    const email = 'changer@shop.example';
    const old = 'old-console-pw-6';
    const next = 'new-console-pw-77';
    await newUser(email, old);
    const me = await signedIn(email, old);
    const laptop = await signedIn(email, old);
    const stolen = me.copy();

    const page = await me.request('GET', '/console/account');
    expect(page.status).toBe(200);
    expect(page.text).toContain('name="current_password"');
    expect(page.text).toContain('href="/console/account"'); // the header's link to it

    const change = (b: Browser, form: Record<string, string>) => b.request('POST', '/console/account/password', { form });
    // a page of another site posting the form has no token
    const forged = await change(me, { current_password: old, new_password: 'attacker-chosen-pw', new_password_confirm: 'attacker-chosen-pw' });
    expect(forged.status).toBe(403);
    // wrong current password, too short, not confirmed, unchanged: each refused beside its field
    const wrong = await change(me, { _csrf: me.csrf, current_password: 'not-my-password', new_password: next, new_password_confirm: next });
    expect(wrong.status).toBe(400);
    expect(wrong.text).toContain('현재 비밀번호가 맞지 않습니다');
    const short = await change(me, { _csrf: me.csrf, current_password: old, new_password: 'short', new_password_confirm: 'short' });
    expect(short.status).toBe(400);
    expect(short.text).toContain('비밀번호는 10자 이상이어야 합니다.</small>');
    const unconfirmed = await change(me, { _csrf: me.csrf, current_password: old, new_password: next, new_password_confirm: `${next}x` });
    expect(unconfirmed.status).toBe(400);
    expect(unconfirmed.text).toContain('새 비밀번호와 확인이 다릅니다.');
    const same = await change(me, { _csrf: me.csrf, current_password: old, new_password: old, new_password_confirm: old });
    expect(same.status).toBe(400);
    expect(same.text).toContain('새 비밀번호가 현재 비밀번호와 같습니다.');
    expect(await signsIn(email, old)).toBe(true);
    expect(await signsIn(email, 'attacker-chosen-pw')).toBe(false);

    const oldCookie = me.cookies.get('pier_console');
    const done = await change(me, { _csrf: me.csrf, current_password: old, new_password: next, new_password_confirm: next });
    expect(done.status).toBe(303);
    expect(done.location).toBe('/console/account?ok=password_changed');
    expect(me.cookies.get('pier_console')).not.toBe(oldCookie);
    const after = await me.request('GET', done.location!);
    expect(after.status).toBe(200);
    expect(after.text).toContain('비밀번호를 바꿨습니다.');
    expect(await me.sessionStatus()).toBe(200);
    expect(await laptop.sessionStatus()).toBe(401);
    expect(await stolen.sessionStatus()).toBe(401);
    expect(await signsIn(email, old)).toBe(false);
    expect(await signsIn(email, next)).toBe(true);

    // the JSON API does the same and hands back the new session's CSRF token
    const api = await me.request('POST', '/console/api/account/password', { json: { current_password: next, new_password: 'third-console-pw' }, csrfHeader: true });
    expect(api.status).toBe(200);
    expect(api.json.ok).toBe(true);
    expect(api.json.csrfToken).not.toBe(me.csrf);
    me.csrf = api.json.csrfToken;
    expect(await me.sessionStatus()).toBe(200);
    expect((await me.request('POST', '/console/api/keys/rotate', { json: {}, csrfHeader: true })).status).toBe(200);
    expect(await signsIn(email, next)).toBe(false);
    expect(await signsIn(email, 'third-console-pw')).toBe(true);
  }, 120_000);

  it('lets a stolen session guess the current password only as often as the sign-in: the fifth wrong guess locks the user and ends every session', async () => {
    const email = 'victim@shop.example';
    const password = 'victim-password-8';
    await newUser(email, password);
    const victim = await signedIn(email, password);
    const stolen = victim.copy();
    const guess = (i: number) => stolen.request('POST', '/console/api/account/password', { json: { current_password: `guess-${i}-password`, new_password: 'attacker-password-9' }, csrfHeader: true });
    for (let i = 0; i < 4; i++) {
      const res = await guess(i);
      expect(res.status).toBe(400);
      expect(res.json.error.fields.current_password).toContain('현재 비밀번호가 맞지 않습니다');
    }
    const fifth = await guess(4);
    expect(fifth.status).toBe(401);
    expect(await stolen.sessionStatus()).toBe(401);
    expect(await victim.sessionStatus()).toBe(401);
    expect(await signsIn(email, 'attacker-password-9')).toBe(false);
    expect(await signsIn(email, password)).toBe(false); // locked
    expect((await run(['user', 'unlock', 'imp30400001', email])).code).toBe(0);
    expect(await signsIn(email, password)).toBe(true);
  }, 120_000);
});
