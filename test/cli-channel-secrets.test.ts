import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStore } from '../src/store/db.js';
import { Vault } from '../src/vault/vault.js';
import { freshDatabase } from './harness.js';

/**
 * What the operator's `pier` shares with the rest of the machine and with the server: a new
 * channel's secrets come from stdin, never the command line (decision 0112), and webhook URLs are
 * judged by the same allow-list (webhooks.allowPrivate) as the server's. The real CLI in child
 * processes, on a fresh database.
 */
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'pier.js');
const VAULT_KEYS = `k1:${Buffer.alloc(32, 5).toString('base64')}`;

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return { ...env, DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9', PIER_VAULT_KEYS: VAULT_KEYS, ...extra };
}

function run(args: string[], o: { stdin?: string; env?: Record<string, string> } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((done) => {
    const child = execFile(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv(o.env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
    child.stdin!.end(o.stdin ?? '');
  });
}

/** The channel's secrets as the vault opens them from the database. */
async function storedSecrets(mid: string) {
  const store = openStore(db.url, { poolSize: 1 });
  try {
    const row = await store.db.selectFrom('pg_channels').selectAll().where('mid', '=', mid).executeTakeFirstOrThrow();
    const vault = Vault.fromSpec(VAULT_KEYS);
    return { merchantKey: vault.open(row.merchant_key_sealed), cancelPassword: vault.open(row.cancel_password_sealed), kind: row.kind };
  } finally {
    await store.close();
  }
}

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-cli-secrets-'));
  db = await freshDatabase();
  const m = await run(['merchant', 'create', '--name', 'Secrets Shop', '--code', 'imp30500001']);
  expect(m.stderr).toBe('');
  expect(m.code).toBe(0);
}, 120_000);

afterAll(async () => {
  await db?.drop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('pier channel add --secrets-stdin', () => {
  it("takes tPay's merchant key and cancel password from stdin: neither is on the waiting command's command line, and both are stored as given", async () => {
    const merchantKey = 'tpay-merchant-key-Zq81xv==';
    const cancelPassword = 'cancel-pw-9931';
    const args = ['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest1m', '--kind', 'api', '--sandbox', '--secrets-stdin'];
    const child = spawn(process.execPath, [BIN, ...args], { cwd: ROOT, env: cliEnv() });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => (stdout += c));
    child.stderr.on('data', (c) => (stderr += c));
    const exited = new Promise<number>((r) => child.on('exit', (code) => r(code ?? -1)));
    // what `ps` shows every user of the machine while the command waits for its stdin
    const cmdline = readFileSync(`/proc/${child.pid}/cmdline`, 'utf8').split('\0');
    expect(cmdline).toContain('tpaytest1m');
    expect(cmdline.join(' ')).not.toContain(merchantKey);
    expect(cmdline.join(' ')).not.toContain(cancelPassword);
    child.stdin.end(`secret=${merchantKey}\r\ncancel_password=${cancelPassword}\n`);
    expect(await exited, stderr).toBe(0);
    expect(stdout).toContain('pg "jtnet.tpaytest1m", api, sandbox');
    expect(stdout + stderr).not.toContain(merchantKey);
    expect(stdout + stderr).not.toContain(cancelPassword);
    expect(await storedSecrets('tpaytest1m')).toEqual({ merchantKey, cancelPassword, kind: 'api' });
  }, 60_000);

  it("takes NICE's secretKey as secret-key=, and refuses unclear input without repeating a secret", async () => {
    const clientId = 'S2_00112233445566778899aabbccddeeff';
    const secretKey = 'f0e1d2c3b4a5968778695a4b3c2d1e0f';
    const nice = await run(['channel', 'add', 'imp30500001', '--provider', 'nice_v2', '--client-id', clientId, '--kind', 'window', '--secrets-stdin'], { stdin: `# NICE sandbox\nsecret-key=${secretKey}\n` });
    expect(nice.stderr).toBe('');
    expect(nice.stdout).toContain(`pg "nice_v2.${clientId}", window, sandbox`);
    expect(await storedSecrets(clientId)).toEqual({ merchantKey: secretKey, cancelPassword: '', kind: 'window' });

    const bad = await run(['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--kind', 'api', '--secrets-stdin'], { stdin: `secret=K-1\nhunter2-not-a-pair\n` });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toBe('pier: --secrets-stdin: line 2 is not `secret=…`, `secret-key=…` or `cancel-password=…` (one name=value a line)\n');
    const mixed = await run(['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--kind', 'api', '--secrets-stdin', '--cancel-password', 'pw'], { stdin: 'secret=K-1\n' });
    expect(mixed.code).toBe(1);
    expect(mixed.stderr).toContain('--secrets-stdin reads every secret from stdin');
    // both names of the one secret: which was meant cannot be told (--secret-key used to win silently)
    const both = await run(['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--kind', 'api', '--secret', 'K-1', '--secret-key', 'K-2', '--cancel-password', 'pw']);
    expect(both.code).toBe(1);
    expect(both.stderr).toBe("pier: --secret and --secret-key name the same secret (tPay's merchant key, NICE's secretKey): give one\n");
    const noKey = await run(['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--kind', 'api', '--secrets-stdin'], { stdin: 'cancel-password=pw-1\n' });
    expect(noKey.code).toBe(1);
    expect(noKey.stderr).toContain('no `secret=…` line on stdin');
    // tPay refunds need the cancel password: the PG's rules still apply
    const noPassword = await run(['channel', 'add', 'imp30500001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--kind', 'api', '--secrets-stdin'], { stdin: 'secret=K-1\n' });
    expect(noPassword.code).toBe(1);
    expect(noPassword.stderr).toContain('cancelPassword is required');
    const list = await run(['channel', 'list', 'imp30500001']);
    expect(list.stdout).not.toContain('tpaytest0m');
  }, 60_000);
});

describe("pier webhooks endpoint and the operator's allow-list", () => {
  it('accepts in production an internal URL that webhooks.allowPrivate allows, as the server does, and refuses one it does not', async () => {
    const production = { PIER_MODE: 'production', PIER_WEBHOOK_ALLOW_PRIVATE: '10.20.0.0/16, hooks.internal' };
    const allowed = await run(['webhooks', 'endpoint', 'imp30500001', '--url', 'http://10.20.0.5:8080/pier-hook'], { env: production });
    expect(allowed.stderr).toBe('');
    expect(allowed.stdout).toMatch(/^url\s+http:\/\/10\.20\.0\.5:8080\/pier-hook$/m);
    const allowedName = await run(['webhooks', 'endpoint', 'imp30500001', '--url', 'http://hooks.internal/pier'], { env: production });
    expect(allowedName.stderr).toBe('');
    expect(allowedName.stdout).toMatch(/^url\s+http:\/\/hooks\.internal\/pier$/m);

    const outside = await run(['webhooks', 'endpoint', 'imp30500001', '--url', 'http://10.30.0.5/pier-hook'], { env: production });
    expect(outside.code).toBe(1);
    expect(outside.stderr).toContain('url: must be a public address');
    const shown = await run(['webhooks', 'endpoint', 'imp30500001'], { env: production });
    expect(shown.stdout).toMatch(/^url\s+http:\/\/hooks\.internal\/pier$/m);

    // a list the server would not start with stops the CLI the same way, naming the setting
    const broken = await run(['webhooks', 'endpoint', 'imp30500001', '--url', 'http://10.20.0.6/'], { env: { ...production, PIER_WEBHOOK_ALLOW_PRIVATE: '10.20.0.0/99' } });
    expect(broken.code).toBe(78);
    expect(broken.stderr).toContain('invalid configuration key "webhooks.allowPrivate"');
    expect((await run(['webhooks', 'endpoint', 'imp30500001'], { env: production })).stdout).toMatch(/^url\s+http:\/\/hooks\.internal\/pier$/m);
  }, 60_000);
});
