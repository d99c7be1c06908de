import { randomBytes } from 'node:crypto';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { createConsoleUser } from '../../src/core/console/users.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { simulatorTools } from '../../src/simulators/registry.js';

export interface ConsoleUser {
  merchant: TestMerchant;
  email: string;
  password: string;
}

export interface Res {
  status: number;
  headers: Record<string, string | string[] | number | undefined>;
  body: string;
  json: any;
  location: string | undefined;
}

/**
 * A cookie-keeping client over app.inject: what a browser does, minus the rendering.
 * `csrf` is the session's token once signed in (read from the page's meta tag).
 */
export class Agent {
  cookies = new Map<string, string>();
  csrf: string | null = null;
  constructor(private readonly app: PierApp) {}

  private cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  async request(method: string, url: string, o: { form?: Record<string, string>; json?: unknown; headers?: Record<string, string> } = {}): Promise<Res> {
    const headers: Record<string, string> = { ...(o.headers ?? {}) };
    if (this.cookies.size) headers.cookie = this.cookieHeader();
    let payload: string | undefined;
    if (o.form) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      payload = new URLSearchParams(o.form).toString();
    } else if (o.json !== undefined) {
      headers['content-type'] = 'application/json';
      payload = JSON.stringify(o.json);
    }
    const res = await this.app.inject({ method: method as 'GET', url, headers, payload });
    for (const c of res.cookies as Array<{ name: string; value: string; maxAge?: number; expires?: Date }>) {
      if (c.value === '' || c.maxAge === 0 || (c.expires && c.expires.getTime() < Date.now())) this.cookies.delete(c.name);
      else this.cookies.set(c.name, c.value);
    }
    let json: unknown = null;
    try {
      json = JSON.parse(res.body);
    } catch {
      /* html */
    }
    const meta = /<meta name="csrf-token" content="([^"]+)">/.exec(res.body);
    if (meta) this.csrf = meta[1];
    return { status: res.statusCode, headers: res.headers, body: res.body, json, location: res.headers.location as string | undefined };
  }

  get(url: string) {
    return this.request('GET', url);
  }

  /** A form post with the session's CSRF token (unless `_csrf` is given or csrf is false). */
  post(url: string, form: Record<string, string> = {}, o: { csrf?: boolean } = {}) {
    const f = o.csrf === false || '_csrf' in form ? form : { _csrf: this.csrf ?? '', ...form };
    return this.request('POST', url, { form: f });
  }

  /** A JSON API call; state-changing methods send `x-csrf-token`. */
  api(method: string, url: string, json?: unknown, o: { csrf?: boolean } = {}) {
    const headers: Record<string, string> = {};
    if (method !== 'GET' && o.csrf !== false && this.csrf) headers['x-csrf-token'] = this.csrf;
    return this.request(method, url, { json, headers });
  }

  async signIn(email: string, password: string): Promise<Res> {
    const page = await this.get('/console/login');
    const token = /name="_csrf" value="([^"]+)"/.exec(page.body)?.[1] ?? '';
    const res = await this.request('POST', '/console/login', { form: { _csrf: token, email, password } });
    if (res.status === 303) await this.get('/console/api/session').then((r) => (this.csrf = r.json?.csrfToken ?? null));
    return res;
  }
}

export interface ConsolePier {
  pier: TestPier;
  app: PierApp;
  newUser(): Promise<ConsoleUser>;
  agent(): Agent;
  close(): Promise<void>;
}

/** Pier in-process (fresh database, real simulator) with the console's sandbox tools wired. */
export async function startConsolePier(opts: { sandboxClock?: boolean; publicUrl?: string } = {}): Promise<ConsolePier> {
  const pier = await startTestPier({ sandboxClock: opts.sandboxClock });
  const app = await buildApp(pier.deps, { bodyLimit: 64 * 1024, publicUrl: opts.publicUrl ?? 'http://localhost:8080', simulatorTools: simulatorTools(pier.deps.connectors) });
  await app.ready();
  return {
    pier,
    app,
    async newUser() {
      const merchant = await pier.newMerchant();
      const email = `ops-${randomBytes(4).toString('hex')}@shop.example`;
      const password = `pw-${randomBytes(8).toString('hex')}`;
      await createConsoleUser(pier.deps, merchant.merchantId, email, password);
      return { merchant, email, password };
    },
    agent: () => new Agent(app),
    async close() {
      await app.close();
      await pier.close();
    },
  };
}
