/**
 * Issue #10 item 7: access tokens survive a vault key rotation; `pier vault rewrap` moves every
 * sealed value to the active key (resumable, with progress), after which the old key can go; and
 * a process whose keys cannot open the installation's data refuses to start with a clear message.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { startPier } from '../../src/main.js';
import { checkVaultOpensData, rewrapVault, SEALED_COLUMNS } from '../../src/vault/sealed-data.js';
import { Vault } from '../../src/vault/vault.js';
import { freshDatabase, startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
let pier: TestPier;
let m: TestMerchant;
const newKey = `k2:${randomBytes(32).toString('base64')}`;
const card = testCardNumber({ kftcCode: '366', lastFour: '3141' });

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  // something in every sealed column: channels (newMerchant), a billing key, a webhook secret
  const key = await pier.call('POST', '/subscribe/customers/vault_cust', { token: m.token, body: { card_number: card, expiry: '2030-12' } });
  expect(key.body.code).toBe(0);
  expect((await pier.call('GET', '/pier/webhooks/settings', { token: m.token })).body.code).toBe(0);
});
afterAll(async () => {
  await pier?.close();
});

/** Pier on the same database with another key ring, as after a restart */
async function withVault<T>(spec: string, fn: (app: Awaited<ReturnType<typeof buildApp>>) => Promise<T>): Promise<T> {
  const app = await buildApp({ ...pier.deps, vault: Vault.fromSpec(spec) }, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}
const json = (app: Awaited<ReturnType<typeof buildApp>>, method: string, url: string, body?: unknown, token?: string) =>
  app
    .inject({ method: method as 'GET', url, headers: { ...(body ? { 'content-type': 'application/json' } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) }, payload: body ? JSON.stringify(body) : undefined })
    .then((r) => ({ status: r.statusCode, body: JSON.parse(r.body) }));

function cli(args: string[], env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|NODE_OPTIONS$)/.test(k)) e[k] = v;
  Object.assign(e, { DATABASE_URL: pier.databaseUrl, PIER_DATA_DIR: tmpdir(), PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9', ...env });
  return new Promise((done) => {
    execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), ...args], { cwd: ROOT, env: e, timeout: 60_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

async function keyIdsInUse(): Promise<string[]> {
  const ids = new Set<string>();
  for (const c of SEALED_COLUMNS) {
    const rows = await (pier.store.db as any).selectFrom(c.table).select(`${c.column} as v`).execute();
    for (const r of rows) ids.add(Vault.keyIdOf(r.v));
  }
  return [...ids].sort();
}

describe('key rotation', () => {
  it('a token issued before the rotation is handed out again and still works after it', async () => {
    const before = m.token;
    await withVault(`${newKey},${pier.vaultSpec}`, async (app) => {
      const again = await json(app, 'POST', '/users/getToken', { imp_key: m.impKey, imp_secret: m.impSecret });
      expect(again.body.code).toBe(0);
      expect(again.body.response.access_token).toBe(before);
      const lookup = await json(app, 'GET', '/subscribe/customers/vault_cust', undefined, before);
      expect(lookup.status).toBe(200);
      expect(lookup.body.response.customer_uid).toBe('vault_cust');
    });
  });

  it('`pier vault rewrap` re-encrypts every sealed value with the new key, with progress, and a second run has nothing to do', async () => {
    expect(await keyIdsInUse()).toEqual(['t1']);
    const env = { PIER_VAULT_KEYS: `${newKey},${pier.vaultSpec}` };
    const first = await cli(['vault', 'rewrap', '--batch-size', '2'], env);
    expect(first.stderr).toBe('');
    expect(first.code).toBe(0);
    expect(first.stdout).toMatch(/pg_channels\.merchant_key_sealed: \d+ re-encrypted/);
    expect(first.stdout).toMatch(/billing_keys\.billing_key_sealed: 1 re-encrypted, 0 to go/);
    expect(await keyIdsInUse()).toEqual(['k2']);
    // the key id recorded beside a billing key says the key that seals it now (the /ready check groups by it)
    expect(await pier.store.db.selectFrom('billing_keys').select('vault_key_id').distinct().execute()).toEqual([{ vault_key_id: 'k2' }]);
    const second = await cli(['vault', 'rewrap'], env);
    expect(second.stdout).toMatch(/done: 0 value\(s\) re-encrypted/);
  });

  it('after the rewrap the old key can be removed: channels, billing keys and webhooks work with the new key alone', async () => {
    await withVault(newKey, async (app) => {
      expect(await checkVaultOpensData(pier.store, Vault.fromSpec(newKey))).toMatchObject({ ok: true });
      const t = await json(app, 'POST', '/users/getToken', { imp_key: m.impKey, imp_secret: m.impSecret });
      expect(t.body.code).toBe(0);
      const again = await json(app, 'POST', '/subscribe/payments/again', { customer_uid: 'vault_cust', merchant_uid: 'vault_again_1', amount: 1200, name: 'after rewrap' }, t.body.response.access_token);
      expect(again.body.response).toMatchObject({ status: 'paid', amount: 1200 });
      const settings = await json(app, 'GET', '/pier/webhooks/settings', undefined, t.body.response.access_token);
      expect(settings.body.response.secret).toMatch(/^whsec_/);
    });
    // and the old key alone no longer opens the data: the check says so instead of a 500 later
    const stale = await checkVaultOpensData(pier.store, Vault.fromSpec(pier.vaultSpec));
    expect(stale.ok).toBe(false);
  });

  it('rewrap resumes: values already moved are skipped, values still old are moved', async () => {
    const k3 = `k3:${randomBytes(32).toString('base64')}`;
    const ring = Vault.fromSpec(`${k3},${newKey}`);
    const progress: string[] = [];
    // a first run stopped after one batch of one column
    const row = await pier.store.db.selectFrom('billing_keys').select(['id', 'billing_key_sealed']).executeTakeFirstOrThrow();
    await pier.store.db.updateTable('billing_keys').set({ billing_key_sealed: ring.seal(ring.open(row.billing_key_sealed)) }).where('id', '=', row.id).execute();
    const n = await rewrapVault(pier.store, ring, { onProgress: (p) => progress.push(`${p.table}.${p.column} ${p.rewrapped}`) });
    expect(progress).toContain('billing_keys.billing_key_sealed 0');
    expect(n).toBeGreaterThan(0);
    expect(await keyIdsInUse()).toEqual(['k3']);
  });
});

describe('key rotation, process by process (README "Key rotation"; docs/operations.md)', () => {
  // each step restarts the processes one by one: while it runs, processes of the step before serve beside restarted ones
  const oldKey = () => pier.vaultSpec;
  const k4 = `k4:${randomBytes(32).toString('base64')}`;
  const steps = () => [
    { restarted: `${oldKey()},${k4}`, notYet: oldKey() }, // 1. the new key added last: nothing is sealed with it yet
    { restarted: `${k4},${oldKey()}`, notYet: `${oldKey()},${k4}` }, // 2. the new key first: every process already holds it
  ];

  it('every process reads what any other sealed, at every step: a billing key made on one is charged on the other', async () => {
    const shop = await pier.newMerchant();
    let n = 0;
    for (const step of steps()) {
      for (const [sealer, reader] of [
        [step.restarted, step.notYet],
        [step.notYet, step.restarted],
      ]) {
        n++;
        await withVault(sealer, async (a) => {
          const t = await json(a, 'POST', '/users/getToken', { imp_key: shop.impKey, imp_secret: shop.impSecret });
          const key = await json(a, 'POST', `/subscribe/customers/rot_${n}`, { card_number: card, expiry: '2030-12' }, t.body.response.access_token);
          expect(key.body.code).toBe(0);
        });
        await withVault(reader, async (b) => {
          const t = await json(b, 'POST', '/users/getToken', { imp_key: shop.impKey, imp_secret: shop.impSecret });
          const charge = await json(b, 'POST', '/subscribe/payments/again', { customer_uid: `rot_${n}`, merchant_uid: `rot_order_${n}`, amount: 1000, name: 'rotation' }, t.body.response.access_token);
          expect(charge.status, `step ${n}: ${JSON.stringify(charge.body)}`).toBe(200);
          expect(charge.body.response).toMatchObject({ status: 'paid' });
        });
      }
    }
  });
});

describe('starting with keys that do not open the data', () => {
  it('two sandbox processes with separate data folders on one database: the second refuses to start and says why', async () => {
    const db = await freshDatabase();
    const dirA = mkdtempSync(join(tmpdir(), 'pier-vault-a-'));
    const dirB = mkdtempSync(join(tmpdir(), 'pier-vault-b-'));
    const env = (dir: string) => ({ PORT: '0', PIER_DATA_DIR: dir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0' });
    try {
      const a = await startPier(loadConfig(env(dirA)));
      try {
        const err = await startPier(loadConfig(env(dirB))).then(
          (b) => b.stop().then(() => null),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(ConfigError);
        expect((err as Error).message).toMatch(/vault\.keys/);
        expect((err as Error).message).toMatch(/same PIER_VAULT_KEYS/);
        expect((err as Error).message).not.toMatch(/[A-Za-z0-9+/]{43}=/); // no key material
      } finally {
        await a.stop();
      }
    } finally {
      await db.drop();
      rmSync(dirA, { recursive: true, force: true });
      rmSync(dirB, { recursive: true, force: true });
    }
  });
});

describe('the CLI with keys that do not open the data', () => {
  it('seals nothing: `channel add` and a first `webhooks secret` refuse, naming the problem, and write nothing the servers could not open', async () => {
    const other = `k1:${randomBytes(32).toString('base64')}`;
    // an operator's shell without PIER_VAULT_KEYS, or with a ring of another installation
    const fresh = await pier.newMerchant();
    await pier.store.db.deleteFrom('webhook_settings').where('merchant_id', '=', fresh.merchantId).execute();
    const before = await pier.store.db.selectFrom('pg_channels').select('id').execute();
    const add = await cli(['channel', 'add', m.merchantCode, '--provider', 'jtnet', '--mid', 'tpaytest9m', '--secret', 'k'.repeat(32), '--cancel-password', '123456', '--kind', 'api'], { PIER_VAULT_KEYS: other });
    const secret = await cli(['webhooks', 'secret', fresh.merchantCode], { PIER_VAULT_KEYS: other });
    for (const r of [add, secret]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(/^pier: the vault keys of this process do not open the data in this database/);
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(await pier.store.db.selectFrom('pg_channels').select('id').execute()).toHaveLength(before.length);
    expect(await pier.store.db.selectFrom('webhook_settings').select('merchant_id').where('merchant_id', '=', fresh.merchantId).execute()).toEqual([]);
  });
});

describe('Vault.openRemembered (a channel secret opened once per process)', () => {
  const spec = `k1:${randomBytes(32).toString('base64')}`;

  it('answers what open answers, and a re-sealed secret as its new value', () => {
    const vault = Vault.fromSpec(spec);
    const first = vault.seal('merchant-key-1');
    expect(vault.openRemembered(first)).toBe('merchant-key-1');
    expect(vault.openRemembered(first)).toBe('merchant-key-1');
    // a channel edit seals the new key under a fresh IV: another entry, never the old value
    const edited = vault.seal('merchant-key-2');
    expect(vault.openRemembered(edited)).toBe('merchant-key-2');
    expect(vault.openRemembered(first)).toBe('merchant-key-1');
  });

  it('refuses, as open does, a value no key of its ring can open, and a tampered one', () => {
    const other = Vault.fromSpec(`k9:${randomBytes(32).toString('base64')}`);
    const vault = Vault.fromSpec(spec);
    expect(() => vault.openRemembered(other.seal('x'))).toThrow(/not in the key ring/);
    const box = vault.seal('merchant-key');
    const parts = box.split('.');
    parts[4] = Buffer.from('another-key!').toString('base64url');
    expect(() => vault.openRemembered(parts.join('.'))).toThrow();
  });

  it('keeps at most 1,024 values, the oldest leaving first', () => {
    const vault = Vault.fromSpec(spec);
    const boxes = Array.from({ length: 1025 }, (_, i) => vault.seal(`key-${i}`));
    for (const b of boxes) vault.openRemembered(b);
    const remembered = (vault as unknown as { remembered: Map<string, string> }).remembered;
    expect(remembered.size).toBe(1024);
    expect(remembered.has(boxes[0])).toBe(false);
    expect(remembered.get(boxes[1024])).toBe('key-1024');
  });
});
