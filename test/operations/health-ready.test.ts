import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp, type PierApp } from '../../src/api/app.js';
import { UNTRUSTED_PROXY_HINT } from '../../src/api/untrusted-proxy-hint.js';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { READY_REUSE_MS } from '../../src/operations/routes.js';
import type { Deps } from '../../src/core/deps.js';
import { migrateToLatest, openStore } from '../../src/store/db.js';
import { Vault } from '../../src/vault/vault.js';
import { startTestPier, type TestPier } from '../harness.js';

let pier: TestPier;

beforeAll(async () => {
  pier = await startTestPier();
  await pier.newMerchant(); // sealed PG keys exist, so the vault check has something to open
});
afterAll(() => pier.close());

/** `clock`: the monotonic ms by which /ready reuses its last run (READY_REUSE_MS); moved on between calls that must see a change */
async function withApp<T>(deps: Deps, fn: (app: PierApp) => Promise<T>, clock?: () => number): Promise<T> {
  const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080', operationsClock: clock });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

describe('GET /health', () => {
  it('answers 200 without a token and without touching the database', async () => {
    const closed = openStore('sqlite::memory:');
    await closed.close(); // any query on it would throw
    await withApp({ ...pier.deps, store: closed }, async (app) => {
      const res = await app.inject({ method: 'GET', url: '/health' });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ status: 'ok' });
    });
  });
});

describe('GET /ready', () => {
  it('answers 200 when the database, migrations, vault and PG are all fine', async () => {
    const res = await pier.app.inject({ method: 'GET', url: '/ready' });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ status: 'ready', checks: { database: 'ok', migrations: 'ok', vault: 'ok', 'pg:jtnet': 'ok' } });
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('answers 503 naming the PG connector that cannot be reached, without its address', async () => {
    const dead = createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:1', connectTimeoutMs: 500, readTimeoutMs: 500 } });
    try {
      await withApp({ ...pier.deps, connectors: dead }, async (app) => {
        const res = await app.inject({ method: 'GET', url: '/ready' });
        expect(res.statusCode).toBe(503);
        expect(res.json()).toMatchObject({ status: 'unavailable', failed: ['pg:jtnet'], checks: { 'pg:jtnet': 'unreachable', database: 'ok' } });
        expect(res.body).not.toContain('127.0.0.1');
      });
    } finally {
      await dead.close();
    }
  });

  it('answers 503 when the vault keys do not open the sealed data (a wrong or dropped key)', async () => {
    const otherKeys = Vault.fromSpec(`t1:${randomBytes(32).toString('base64')}`); // same id, different key
    await withApp({ ...pier.deps, vault: otherKeys }, async (app) => {
      const res = await app.inject({ method: 'GET', url: '/ready' });
      expect(res.statusCode).toBe(503);
      expect(res.json()).toMatchObject({ failed: ['vault'], checks: { vault: 'keys do not open sealed data' } });
    });
    const rotatedAway = Vault.fromSpec(`t2:${randomBytes(32).toString('base64')}`); // t1 no longer in the ring
    await withApp({ ...pier.deps, vault: rotatedAway }, async (app) => {
      expect((await app.inject({ method: 'GET', url: '/ready' })).json().failed).toEqual(['vault']);
    });
  });

  it('answers 503 while migrations are pending', async () => {
    const empty = openStore('sqlite::memory:');
    let nowMs = 0;
    try {
      await withApp({ ...pier.deps, store: empty }, async (app) => {
        const res = await app.inject({ method: 'GET', url: '/ready' });
        expect(res.statusCode).toBe(503);
        expect(res.json().failed).toEqual(expect.arrayContaining(['migrations']));
        await migrateToLatest(empty);
        nowMs += READY_REUSE_MS;
        const again = await app.inject({ method: 'GET', url: '/ready' });
        expect(again.json().checks).toMatchObject({ database: 'ok', migrations: 'ok', vault: 'ok' });
        expect(again.statusCode).toBe(200);
      }, () => nowMs);
    } finally {
      await empty.close();
    }
  });
});

// PostgreSQL specifically (the production database): stop letting anyone connect to Pier's database
// and kill its connections, as a server restart or failover would, then let them back in.
describe('GET /ready while PostgreSQL is down', () => {
  const admin = process.env.TEST_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/postgres';
  const name = `pier_t_ready_${randomBytes(5).toString('hex')}`;
  const adminQuery = async (text: string) => {
    const c = new pg.Client({ connectionString: admin });
    await c.connect();
    try {
      await c.query(text);
    } finally {
      await c.end();
    }
  };

  it('goes 503 when PostgreSQL is unreachable and back to 200 when it returns', async () => {
    await adminQuery(`CREATE DATABASE ${name}`);
    const url = new URL(admin);
    url.pathname = `/${name}`;
    const lost: string[] = [];
    const store = openStore(url.toString(), { onConnectionLost: (err) => lost.push(err.message) });
    let nowMs = 0;
    try {
      await migrateToLatest(store);
      await withApp({ ...pier.deps, store }, async (app) => {
        expect((await app.inject({ method: 'GET', url: '/ready' })).statusCode).toBe(200);

        await adminQuery(`ALTER DATABASE ${name} ALLOW_CONNECTIONS false`);
        await adminQuery(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '${name}'`);
        nowMs += READY_REUSE_MS;
        const down = await app.inject({ method: 'GET', url: '/ready' });
        expect(down.statusCode).toBe(503);
        expect(down.json()).toMatchObject({ status: 'unavailable', checks: { database: 'unreachable', 'pg:jtnet': 'ok' } });
        expect(down.json().failed).toContain('database');
        expect(down.body).not.toContain(name); // no internal names in a public answer
        // alive all the same: a liveness probe must not restart a process for its database's outage
        expect((await app.inject({ method: 'GET', url: '/health' })).statusCode).toBe(200);

        await adminQuery(`ALTER DATABASE ${name} ALLOW_CONNECTIONS true`);
        nowMs += READY_REUSE_MS;
        const up = await app.inject({ method: 'GET', url: '/ready' });
        expect(up.statusCode).toBe(200);
        expect(up.json().checks.database).toBe('ok');
      }, () => nowMs);
    } finally {
      await store.close();
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    }
  });
});

describe('behind a reverse proxy (config trustProxy)', () => {
  const loginCookie = async (trustProxy: string, headers: Record<string, string>, publicUrl = 'http://pay.example.com', url = '/console/login') => {
    const app = await buildApp(pier.deps, { bodyLimit: 64 * 1024, publicUrl, trustProxy });
    try {
      const res = await app.inject({ method: 'GET', url, headers, remoteAddress: '10.1.2.3' });
      return String(res.headers['set-cookie']);
    } finally {
      await app.close();
    }
  };

  it('believes X-Forwarded-Proto only from the configured proxies, so console cookies are Secure behind HTTPS', async () => {
    // a public URL left at http (no __Host- cookies): the forwarded scheme decides Secure
    expect(await loginCookie('10.0.0.0/8', { 'x-forwarded-proto': 'https' })).toContain('Secure');
    // anyone can send the header: from an address that is not a configured proxy it changes nothing
    expect(await loginCookie('192.168.0.0/16', { 'x-forwarded-proto': 'https' })).not.toContain('Secure');
    expect(await loginCookie('', { 'x-forwarded-proto': 'https' })).not.toContain('Secure');
  });

  it('makes console cookies __Host- and Secure behind an https public URL, whatever the proxy headers say (decision 0064)', async () => {
    for (const trustProxy of ['10.0.0.0/8', '']) {
      const cookie = await loginCookie(trustProxy, {}, 'https://pay.example.com');
      expect(cookie).toMatch(/^__Host-pier_console_pre=[\w-]+; Path=\/; HttpOnly; Secure; SameSite=Lax$/);
    }
  });

  it('makes the console language cookie __Host- and Secure behind an https public URL too (decision 0067)', async () => {
    for (const trustProxy of ['10.0.0.0/8', '']) {
      expect(await loginCookie(trustProxy, {}, 'https://pay.example.com', '/console/lang/en')).toBe('__Host-pier_console_lang=en; Max-Age=31536000; Path=/; Secure; SameSite=Lax');
    }
    // over an http public URL it stays unprefixed at /console, Secure when a trusted proxy says https
    expect(await loginCookie('10.0.0.0/8', { 'x-forwarded-proto': 'https' }, undefined, '/console/lang/en')).toBe('pier_console_lang=en; Max-Age=31536000; Path=/console; Secure; SameSite=Lax');
    expect(await loginCookie('', {}, undefined, '/console/lang/en')).toBe('pier_console_lang=en; Max-Age=31536000; Path=/console; SameSite=Lax');
  });

  it('says once, naming no address, when a proxy on a private address forwards requests and trustProxy is not set', async () => {
    const hints = () => pier.logs().split('\n').filter((l) => l.includes(UNTRUSTED_PROXY_HINT.slice(0, 60)));
    const through = async (trustProxy: string, remoteAddress: string, headers: Record<string, string>) => {
      const app = await buildApp(pier.deps, { bodyLimit: 64 * 1024, publicUrl: 'http://pay.example.com', trustProxy });
      try {
        for (let i = 0; i < 3; i++) expect((await app.inject({ method: 'GET', url: '/health', headers, remoteAddress })).statusCode).toBe(200);
      } finally {
        await app.close();
      }
    };
    const before = hints().length;
    // a configured proxy, a client that sends the header from a public address, a private peer without it: nothing to say
    await through('10.0.0.0/8', '10.1.2.3', { 'x-forwarded-for': '203.0.113.7' });
    await through('', '203.0.113.9', { 'x-forwarded-for': '198.51.100.4' });
    await through('', '10.1.2.3', {});
    expect(hints().length).toBe(before);
    // nginx on the same host (IPv4-mapped loopback) without PIER_TRUST_PROXY: one warning for three requests
    await through('', '::ffff:127.0.0.1', { 'x-forwarded-for': '203.0.113.7' });
    expect(hints().length).toBe(before + 1);
    const line = hints().at(-1)!;
    expect(line).toContain('"level":40');
    expect(line).toContain('PIER_TRUST_PROXY');
    expect(line).not.toMatch(/127\.0\.0\.1|203\.0\.113/);
    // and on a private network
    await through('', '172.20.0.5', { 'x-forwarded-for': '203.0.113.7' });
    expect(hints().length).toBe(before + 2);
  });
});
