import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PierError } from '../src/api/errors.js';
import { createConnectorRegistry } from '../src/connectors/registry.js';
import { issueAccessToken } from '../src/core/merchants/auth.js';
import { deleteBillingKey } from '../src/core/billing-keys/billing-keys.js';
import type { Deps } from '../src/core/deps.js';
import { systemClock } from '../src/lib/clock.js';
import { createLogger } from '../src/lib/logger.js';
import { JTNET_TEST_MIDS } from '../src/core/sandbox/demo.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { openStore, type Store } from '../src/store/db.js';
import { Vault } from '../src/vault/vault.js';
import { tableColumns } from './bulk-rows.js';
import { freshDatabase } from './harness.js';

/**
 * The real CLI in a child process (through bin/pier.js, as `npx pier` runs it) against a fresh
 * database and data folder, with the simulator off and the PG pointed at a closed port.
 */
const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'pier.js');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;

function cliEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  }
  return { ...env, DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9', ...extra };
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(args: string[], opts: { env?: Record<string, string>; viaSource?: boolean; cwd?: string; stdin?: string } = {}): Promise<Run> {
  // `--import tsx` would resolve tsx from the cwd: give its loader's own URL so any cwd works
  const argv = opts.viaSource ? ['--import', TSX_LOADER, join(ROOT, 'src/cli/index.ts'), ...args] : [BIN, ...args];
  return new Promise((done) => {
    const child = execFile(process.execPath, argv, { cwd: opts.cwd ?? ROOT, env: cliEnv(opts.env), timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : -1) : 0;
      done({ code, stdout, stderr });
    });
    child.stdin?.end(opts.stdin ?? '');
  });
}

/** Deps on the CLI's database and vault key file, to check what the CLI did from the outside. */
function depsFor(store: Store): Deps {
  return {
    store,
    vault: Vault.fromKeyFile(join(dataDir, 'vault.key')),
    clock: systemClock,
    logger: createLogger('silent'),
    mode: 'sandbox',
    connectors: createConnectorRegistry({ jtnet: { baseUrl: 'http://127.0.0.1:9', connectTimeoutMs: 1000, readTimeoutMs: 1000 } }),
  };
}

async function canSignIn(deps: Deps, key: string, secret: string): Promise<boolean> {
  try {
    await issueAccessToken(deps, key, secret);
    return true;
  } catch (err) {
    if (err instanceof PierError && err.kind === 'unauthorized') return false;
    throw err;
  }
}

/** Inserts a row into `table` with `values`, and a placeholder (0 or 'x') in every other NOT NULL column. */
async function insertFilled(store: Store, table: string, values: Record<string, unknown>): Promise<void> {
  const columns = await tableColumns(store, table);
  const row: Record<string, unknown> = {};
  for (const c of columns) if (c.notnull) row[c.name] = /int|numeric/i.test(c.type) ? 0 : 'x';
  await store.db.insertInto(table as 'billing_keys').values({ ...row, ...values } as never).execute();
}

const field = (text: string, name: string) => {
  const m = new RegExp(`^\\s*${name}\\s+(\\S+)`, 'm').exec(text);
  if (!m) throw new Error(`no ${name} in:\n${text}`);
  return m[1];
};

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-cli-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('pier CLI', () => {
  it('migrates, then manages a merchant, its channels and its REST key', async () => {
    const migrate = await run(['migrate']);
    expect(migrate.stderr).toBe('');
    expect(migrate.code).toBe(0);
    expect(migrate.stdout).toMatch(/applied \d+ migration\(s\)[\s\S]*001-initial/);

    const created = await run(['merchant', 'create', '--name', 'CLI Shop', '--code', 'imp20260001']);
    expect(created.code).toBe(0);
    expect(created.stdout).toContain('imp20260001');
    expect(created.stdout).toMatch(/shown only this once/);
    const oldKey = field(created.stdout, 'imp_key');
    const oldSecret = field(created.stdout, 'imp_secret');
    expect(oldSecret).toHaveLength(80);

    // the key-in test MID with its real merchant key, so that `reconcile` below can ask the simulator
    const keyIn = JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest1m')!;
    const [addApi, addWindow] = await Promise.all([
      run(['channel', 'add', 'imp20260001', '--provider', 'jtnet', '--mid', 'tpaytest1m', '--secret', keyIn.merchantKey, '--cancel-password', 'pw-123456', '--kind', 'api', '--sandbox']),
      run(['channel', 'add', 'imp20260001', '--provider', 'jtnet', '--mid', 'tpaytest0m', '--secret', 'MERCHANT-KEY-0', '--cancel-password', 'pw-654321', '--kind', 'window', '--name', 'window test']),
    ]);
    expect(addApi.code, addApi.stderr).toBe(0);
    expect(addApi.stdout).toContain('jtnet.tpaytest1m');
    expect(addWindow.code, addWindow.stderr).toBe(0);

    const [list, show, mList] = await Promise.all([
      run(['channel', 'list', 'imp20260001']),
      run(['merchant', 'show', 'imp20260001']),
      run(['merchant', 'list']),
    ]);
    expect(list.code).toBe(0);
    const lines = list.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/ID\s+PG\s+KIND\s+MODE\s+DEFAULT\s+BASE URL\s+NAME/);
    expect(lines.find((l) => l.includes('jtnet.tpaytest1m'))).toMatch(/jtnet\.tpaytest1m\s+api\s+sandbox\s+yes\s+-/);
    expect(lines.find((l) => l.includes('jtnet.tpaytest0m'))).toMatch(/jtnet\.tpaytest0m\s+window\s+live\s+yes\s+-\s+window test/);
    // tPay takes no notice URL with the payment: each channel's is registered in its admin (decision 0086)
    expect(list.stdout).toContain("Webhook URLs to register in the PG's admin");
    expect(list.stdout.match(/\/checkout\/pg\/ch_\S+\/notify/g)).toHaveLength(2);
    expect(list.stdout).toContain('(JTNet(tPay): 가맹점 관리자 → 가상계좌 입금통보 URL)');
    // a sandbox channel's simulator is told where its notices go, here none listens (the server tells it when it starts)
    expect(addApi.stdout).toContain('the simulator could not be told where jtnet.tpaytest1m');
    expect(addWindow.stdout).not.toContain('the simulator');
    for (const secret of [keyIn.merchantKey, 'MERCHANT-KEY-0', 'pw-123456', 'pw-654321']) {
      expect(list.stdout + show.stdout + addApi.stdout + addWindow.stdout).not.toContain(secret);
    }

    expect(show.code).toBe(0);
    expect(show.stdout).toMatch(/merchant\s+imp20260001/);
    expect(show.stdout).toMatch(/name\s+CLI Shop/);
    expect(show.stdout).toContain(oldKey);
    expect(show.stdout).not.toContain(oldSecret);
    expect(show.stdout).toContain('jtnet.tpaytest1m');
    expect(show.stdout).toContain('jtnet.tpaytest0m');

    expect(mList.stdout).toMatch(/imp20260001\s+CLI Shop\s+\d{16}\s+2/);

    const rotated = await run(['merchant', 'rotate-key', 'imp20260001']);
    expect(rotated.code).toBe(0);
    const newKey = field(rotated.stdout, 'imp_key');
    const newSecret = field(rotated.stdout, 'imp_secret');
    expect(newKey).not.toBe(oldKey);
    expect(rotated.stdout).toContain(`Revoked: ${oldKey}`);

    const store = openStore(db.url, { poolSize: 2 });
    const deps = depsFor(store);
    try {
      expect(await canSignIn(deps, oldKey, oldSecret)).toBe(false);
      expect(await canSignIn(deps, newKey, newSecret)).toBe(true);
      // secrets are sealed at rest, not stored in the clear
      const rows = await store.db.selectFrom('pg_channels').selectAll().execute();
      expect(JSON.stringify(rows)).not.toContain('MERCHANT-KEY-0');
      expect(JSON.stringify(rows)).not.toContain(keyIn.merchantKey);
    } finally {
      await deps.connectors.close();
      await store.close();
    }

    // a channel a billing key still charges through is not removed without --force
    const keyStore = openStore(db.url, { poolSize: 2 });
    try {
      const ch = await keyStore.db.selectFrom('pg_channels').select(['id', 'merchant_id']).where('mid', '=', 'tpaytest0m').executeTakeFirstOrThrow();
      await insertFilled(keyStore, 'billing_keys', { id: 'bk_cli_in_use', merchant_id: ch.merchant_id, channel_id: ch.id, customer_uid: 'cust_in_use' });
      const refused = await run(['channel', 'remove', 'imp20260001', 'tpaytest0m']);
      expect(refused.code).toBe(1);
      expect(refused.stderr).toMatch(/is still used by 1 billing key\(s\) and 0 paid, in-doubt or awaiting-deposit payment\(s\).*Add --force/s);
      await keyStore.db.deleteFrom('billing_keys').where('id', '=', 'bk_cli_in_use').execute();
    } finally {
      await keyStore.close();
    }
    const removed = await run(['channel', 'remove', 'imp20260001', 'tpaytest0m']);
    expect(removed.code).toBe(0);
    expect(removed.stdout).toMatch(/removed channel ch_\S+ \(jtnet\.tpaytest0m, window\)/);
    const after = await run(['channel', 'list', 'imp20260001']);
    expect(after.stdout).toContain('jtnet.tpaytest1m');
    expect(after.stdout).not.toContain('jtnet.tpaytest0m');
  });

  it('adds NICE channels (secret from stdin or env), lists their mode, base URL and the webhook URL to register, and moves the default', async () => {
    const created = await run(['merchant', 'create', '--name', 'NICE Shop', '--code', 'imp20260002']);
    expect(created.code, created.stderr).toBe(0);
    const clientId = 'S2_af4543a0be4d49a98122e01ec2059a56';
    const secretKey = '9eb85607103646da9f9c02b128f2e5ee';
    // a sandbox key needs no --sandbox: the S… prefix says it; the secret comes from stdin, not argv
    const addApi = await run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', clientId, '--secret-key', '-', '--kind', 'api', '--base-url', 'http://127.0.0.1:8092/'], { stdin: `${secretKey}\n` });
    expect(addApi.code, addApi.stderr).toBe(0);
    expect(addApi.stdout).toContain(`pg "nice_v2.${clientId}", api, sandbox, base URL http://127.0.0.1:8092, default api channel`);
    const apiId = /added channel (ch_\S+)/.exec(addApi.stdout)![1];
    expect(addApi.stdout).toContain(`http://localhost:8080/checkout/pg/${apiId}/notify`);
    const addWindow = await run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', clientId, '--kind', 'window'], { env: { PIER_CHANNEL_SECRET: secretKey } });
    expect(addWindow.code, addWindow.stderr).toBe(0);
    // a Pier without a tPay host leaves JTNET out (decision 0079): a channel of it could never pay
    const noTpay = await run(['channel', 'add', 'imp20260002', '--provider', 'jtnet', '--mid', 'tpaytest1m', '--secret', 'K', '--cancel-password', 'p', '--kind', 'api', '--sandbox'], { env: { PIER_JTNET_URL: '' } });
    expect(noTpay.code).not.toBe(0);
    expect(noTpay.stderr).toContain('PG "jtnet" is not configured in this Pier (set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host)');
    // without --provider: the only PG this Pier configures (NICE, on a Pier without a tPay host), or refused naming the choices (decision 0080)
    const niceOnly = await run(['channel', 'add', 'imp20260002', '--client-id', 'S2_0123456789abcdef0123456789abcdef', '--secret-key', 'k'.repeat(32), '--kind', 'window', '--name', 'picked'], { env: { PIER_JTNET_URL: '' } });
    expect(niceOnly.code, niceOnly.stderr).toBe(0);
    expect(niceOnly.stdout).toContain('pg "nice_v2.S2_0123456789abcdef0123456789abcdef", window, sandbox');
    const several = await run(['channel', 'add', 'imp20260002', '--mid', 'tpaytest1m', '--secret', 'K', '--cancel-password', 'p', '--kind', 'api', '--sandbox']);
    expect(several.code).toBe(1);
    expect(several.stderr).toContain('provider: this Pier configures several PGs; name one of jtnet (JTNet(tPay)), nice_v2 (NICE페이먼츠)');
    expect(several.stderr).not.toMatch(/\n\s+at /);
    const addJtnet = await run(['channel', 'add', 'imp20260002', '--provider', 'jtnet', '--mid', 'tpaytest1m', '--secret', 'K', '--cancel-password', 'p', '--kind', 'api', '--sandbox', '--default']);
    expect(addJtnet.code, addJtnet.stderr).toBe(0);

    const list = await run(['channel', 'list', 'imp20260002']);
    expect(list.code).toBe(0);
    const lines = list.stdout.split('\n');
    expect(lines.find((l) => l.includes(apiId) && l.includes('api'))).toMatch(new RegExp(`nice_v2\\.${clientId}\\s+api\\s+sandbox\\s+no\\s+http://127\\.0\\.0\\.1:8092\\s`));
    expect(list.stdout).toContain("Webhook URLs to register in the PG's admin");
    // the three NICE channels' and the tPay one's (decision 0086)
    expect(list.stdout.match(/\/checkout\/pg\/ch_\S+\/notify/g)).toHaveLength(4);
    for (const r of [addApi, addWindow, addJtnet, list]) expect(r.stdout + r.stderr).not.toContain(secretKey);

    // switching back to NICE for V1 requests without pg
    const def = await run(['channel', 'default', 'imp20260002', apiId]);
    expect(def.code, def.stderr).toBe(0);
    expect(def.stdout).toContain(`is now the default api channel`);
    const store = openStore(db.url, { poolSize: 2 });
    try {
      const rows = await store.db.selectFrom('pg_channels').selectAll().where('kind', '=', 'api').where('merchant_id', '=', (await store.db.selectFrom('merchants').select('id').where('merchant_code', '=', 'imp20260002').executeTakeFirstOrThrow()).id).execute();
      expect(rows.filter((r) => r.is_default === 1).map((r) => r.id)).toEqual([apiId]);
      const nice = rows.find((r) => r.id === apiId)!;
      expect(nice).toMatchObject({ provider: 'nice_v2', mid: clientId, sandbox: 1, base_url: 'http://127.0.0.1:8092' });
      expect(JSON.stringify(rows)).not.toContain(secretKey);
      expect(depsFor(store).vault.open(nice.merchant_key_sealed)).toBe(secretKey);
      expect(depsFor(store).vault.open(nice.cancel_password_sealed)).toBe('');
    } finally {
      await store.close();
    }

    const [liveWithS, liveKeyAsSandbox, badBase, withCancelPw, noSecret] = await Promise.all([
      run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '--secret-key', 'x', '--kind', 'api', '--live']),
      run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', 'R2_0123456789abcdef0123456789abcdef', '--secret-key', 'x', '--kind', 'api', '--sandbox']),
      run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '--secret-key', 'x', '--kind', 'api', '--base-url', 'ftp://user:pw@example.com']),
      run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '--secret-key', 'x', '--kind', 'api', '--cancel-password', '1234']),
      run(['channel', 'add', 'imp20260002', '--provider', 'nice_v2', '--client-id', 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', '--kind', 'api']),
    ]);
    for (const r of [liveWithS, liveKeyAsSandbox, badBase, withCancelPw, noSecret]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
    }
    expect(liveWithS.stderr).toContain('is a sandbox key: a live channel needs an R1_/R2_ key');
    expect(liveKeyAsSandbox.stderr).toContain('is a live key: a sandbox channel needs an S1_/S2_ key');
    expect(badBase.stderr).toContain('base URL: http or https only');
    expect(badBase.stderr).not.toContain('user:pw');
    expect(withCancelPw.stderr).toContain('NICE has no cancel password');
    expect(noSecret.stderr).toContain("required option '--secret");
  });

  it('reports bad input on stderr with exit code 1 and no stack trace', async () => {
    const [unknownAdd, badKind, missing, badCode, unknownChannel, badLimit, badMaxEvents] = await Promise.all([
      run(['channel', 'add', 'imp99999999', '--provider', 'jtnet', '--mid', 'm1', '--secret', 's', '--cancel-password', 'p', '--kind', 'api']),
      run(['channel', 'add', 'imp20260001', '--provider', 'jtnet', '--mid', 'm1', '--secret', 's', '--cancel-password', 'p', '--kind', 'keyin']),
      run(['channel', 'add', 'imp20260001', '--provider', 'jtnet', '--mid', 'm1', '--kind', 'api', '--cancel-password', 'p']),
      run(['merchant', 'create', '--name', 'x', '--code', 'imp123']),
      run(['channel', 'remove', 'imp20260001', 'nope']),
      run(['webhooks', 'list', '--limit', '0']),
      run(['listen', '--forward-to', 'http://127.0.0.1:9/hook', '--max-events', '-1']),
    ]);
    for (const r of [unknownAdd, badKind, missing, badCode, unknownChannel, badLimit, badMaxEvents]) {
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).not.toMatch(/\n\s+at /);
    }
    expect(unknownAdd.stderr).toContain('unknown merchant code "imp99999999"');
    expect(badKind.stderr).toMatch(/--kind.*'keyin' is invalid.*window, api/);
    expect(missing.stderr).toMatch(/required option '--secret/);
    expect(badCode.stderr).toContain('merchant code must be "imp" followed by 8 digits');
    expect(unknownChannel.stderr).toContain('has no channel "nope"');
    // the message names the option, as for every other bad option value
    expect(badLimit.stderr).toMatch(/option '--limit <N>' argument '0' is invalid\. expected a positive whole number/);
    expect(badMaxEvents.stderr).toMatch(/option '--max-events <N>' argument '-1' is invalid\. expected a positive whole number/);
  });

  it('reconcile settles an in-doubt payment through the PG, and says when the PG cannot be asked', async () => {
    const store = openStore(db.url, { poolSize: 2 });
    const simulator = createTpaySimulator({ dbFile: ':memory:', clock: systemClock, logger: false });
    try {
      const m = await store.db.selectFrom('merchants').select('id').where('merchant_code', '=', 'imp20260001').executeTakeFirstOrThrow();
      const ch = await store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.id).executeTakeFirstOrThrow();
      const t = Math.floor(Date.now() / 1000) - 3600;
      await store.db
        .insertInto('payments')
        .values({
          imp_uid: 'imp_900000000001', merchant_id: m.id, merchant_uid: 'order-cli-1', merchant_uid_lock: 'order-cli-1', channel_id: ch.id,
          pg_provider: 'jtnet', pg_id: 'tpaytest1m', pay_method: 'card', channel: 'api', status: 'ready', pg_state: 'in_doubt',
          amount: 1000, cancel_amount: 0, cancel_pending_amount: 0, tax_free: 0, vat_amount: null, currency: 'KRW', name: 'cli',
          buyer_name: null, buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null, custom_data: null,
          notice_url: null, user_agent: null, card_code: null, card_name: null, card_number: null, card_type: null, card_quota: 0,
          apply_num: null, pg_tid: null, receipt_url: null, bank_code: null, bank_name: null, customer_uid: null, customer_uid_usage: null,
          fail_reason: null, cancel_reason: null, sandbox: 1, started_at: t, paid_at: 0, failed_at: 0, cancelled_at: 0, updated_at: t,
        })
        .execute();

      const unreachable = await run(['reconcile', '--grace-seconds', '60']);
      expect(unreachable.code).toBe(0);
      expect(unreachable.stdout).toMatch(/imp_900000000001\s+unknown/);

      const simUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
      const settled = await run(['reconcile'], { env: { PIER_JTNET_URL: simUrl } });
      expect(settled.code, settled.stderr).toBe(0);
      expect(settled.stdout).toMatch(/imp_900000000001\s+failed/);
      const p = await store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', 'imp_900000000001').executeTakeFirstOrThrow();
      expect(p.status).toBe('failed');

      const nothing = await run(['reconcile']);
      expect(nothing.stdout).toMatch(/no payments in doubt/);
    } finally {
      await simulator.close();
      await store.close();
    }
  });

  it("billing-key forget deletes Pier's record of keys DELETE cannot delete at the PG (their channel is gone), of that merchant only", async () => {
    const store = openStore(db.url, { poolSize: 2 });
    const deps = depsFor(store);
    try {
      const merchantOf = async (code: string) => (await store.db.selectFrom('merchants').select('id').where('merchant_code', '=', code).executeTakeFirstOrThrow()).id;
      const [shop, other] = [await merchantOf('imp20260001'), await merchantOf('imp20260002')];
      // keys issued through a tPay contract that has ended: the channel was removed with --force
      for (const [id, merchant_id, customer_uid] of [['bk_cli_gone1', shop, 'cust_gone'], ['bk_cli_gone2', shop, 'cust_gone_2'], ['bk_cli_other', other, 'cust_gone']]) {
        await insertFilled(store, 'billing_keys', { id, merchant_id, customer_uid, channel_id: 'ch_removed', pg_provider: 'jtnet', pg_id: 'tpaygone0m', card_name: '신한카드' });
      }
      await expect(deleteBillingKey(deps, shop, 'cust_gone')).rejects.toThrow(/PG 설정\(jtnet\.tpaygone0m\)이 삭제되어/);

      const forgot = await run(['billing-key', 'forget', 'imp20260001', 'cust_gone', 'cust_never']);
      expect(forgot.code).toBe(1);
      expect(forgot.stdout).toBe('forgot cust_gone (jtnet.tpaygone0m, 신한카드) in Pier; not deleted at the PG\n');
      expect(forgot.stderr).toContain('imp20260001 has no billing key for customer_uid cust_never');
      const left = await store.db.selectFrom('billing_keys').select(['id']).where('id', 'like', 'bk_cli_%').orderBy('id').execute();
      // the other merchant's key with the same customer_uid and this merchant's other key stay
      expect(left.map((r) => r.id)).toEqual(['bk_cli_gone2', 'bk_cli_other']);
      const again = await run(['billing-key', 'forget', 'imp20260001', 'cust_gone_2']);
      expect(again.code, again.stderr).toBe(0);
      expect(await store.db.selectFrom('billing_keys').select('id').where('id', '=', 'bk_cli_gone2').executeTakeFirst()).toBeUndefined();
    } finally {
      await deps.connectors.close();
      await store.close();
    }
  });

  it('ends quietly when its reader closes the pipe early (`pier … | head`)', async () => {
    // the pipe is closed before the CLI has started, so its first line meets a pipe with no reader
    const child = spawn(process.execPath, [BIN, 'compat-table'], { cwd: ROOT, env: cliEnv(), stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((done) => child.on('close', (c) => done(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });

  it('prints usage for every command, from any folder, also when run from source', async () => {
    const [root, add, fromSource] = await Promise.all([
      run(['--help'], { cwd: tmpdir() }),
      run(['channel', 'add', '--help'], { cwd: tmpdir() }),
      run(['compat-table'], { viaSource: true, cwd: tmpdir() }),
    ]);
    expect(root.code).toBe(0);
    expect(root.stdout).toMatch(/Usage: pier \[options\] \[command\]/);
    for (const c of ['migrate', 'merchant', 'channel', 'billing-key', 'reconcile', 'compat-table']) expect(root.stdout).toContain(c);
    expect(add.code).toBe(0);
    expect(add.stdout).toMatch(/Usage: pier channel add \[options\] <merchantCode>/);
    expect(add.stdout).toContain('--cancel-password <pw>');
    expect(fromSource.code).toBe(0);
    expect(fromSource.stdout).toMatch(/^\d+ endpoints/);
    expect(fromSource.stdout).toContain('| POST | `/users/getToken` | supported |');
  });
});
