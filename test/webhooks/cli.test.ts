/**
 * `pier webhooks endpoint|secret|list|show|redeliver`, run in-process through the CLI's `main`
 * against the test database (the CLI reads its configuration from the environment).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { main } from '../../src/cli/index.js';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startReceiver, verify } from './receiver.js';

let pier: TestPier;
let m: TestMerchant;
let receiver: Awaited<ReturnType<typeof startReceiver>>;
let queue: ReturnType<typeof webhookQueue>;
let runner: JobRunner;
let dataDir: string;

async function pier_(...args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const o = vi.spyOn(process.stdout, 'write').mockImplementation((c: string | Uint8Array) => ((stdout += c.toString()), true));
  const e = vi.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((stderr += c.toString()), true));
  try {
    const code = await main(['node', 'pier', ...args]);
    return { code, stdout, stderr };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  receiver = await startReceiver();
  queue = webhookQueue(pier.deps, { clock: pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
  runner = new JobRunner({ queues: [queue], logger: pier.deps.logger });
  dataDir = mkdtempSync(join(tmpdir(), 'pier-wh-cli-'));
  for (const k of Object.keys(process.env)) if (/^(PIER_|DATABASE_URL$)/.test(k)) delete process.env[k];
  Object.assign(process.env, { DATABASE_URL: pier.databaseUrl, PIER_DATA_DIR: dataDir, PIER_VAULT_KEYS: pier.vaultSpec, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9' });
});
afterAll(async () => {
  await queue.close();
  await receiver.stop();
  await pier.close();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('pier webhooks', () => {
  it('sets the endpoint, prints the secret, lists and shows deliveries with their attempts, and redelivers', async () => {
    const set = await pier_('webhooks', 'endpoint', m.merchantCode, '--url', receiver.url, '--content-type', 'form');
    expect(set.stderr).toBe('');
    expect(set.stdout).toContain(`url           ${receiver.url}`);
    expect(set.stdout).toContain('application/x-www-form-urlencoded');
    const secret = (await pier_('webhooks', 'secret', m.merchantCode)).stdout.trim();
    expect(secret).toMatch(/^whsec_/);

    receiver.setAnswer((_r, n) => (n === 1 ? 500 : 200));
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'cli_1', amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '9090' }), expiry: '2030-12' } });
    const impUid = paid.body.response.imp_uid;
    await runner.drain();
    pier.clock.advance(3600_000);
    await runner.drain();
    expect(receiver.requests).toHaveLength(2);
    expect(verify(secret, receiver.requests[1])).toEqual({ imp_uid: impUid, merchant_uid: 'cli_1', status: 'paid' });

    const list = await pier_('webhooks', 'list', '--merchant', m.merchantCode);
    expect(list.code).toBe(0);
    const id = /^(whd_\w+)/m.exec(list.stdout)![1];
    expect(list.stdout).toMatch(new RegExp(`${id}.*paid\\s+${impUid}\\s+delivered\\s+2/10\\s+200\\s+${receiver.url.replace(/[/.]/g, '\\$&')}`));
    expect(list.stdout).toContain('by state: delivered 1');

    const show = await pier_('webhooks', 'show', id);
    expect(show.stdout).toContain(`event      `);
    expect(show.stdout).toMatch(/^1\s+.*\s500\s+\d+ ms\s+HTTP 500/m);
    expect(show.stdout).toMatch(/^2\s+.*\s200\s+\d+ ms/m);

    const again = await pier_('webhooks', 'redeliver', id);
    expect(again.stdout).toMatch(/queued 1 new delivery: whd_/);
    await runner.drain();
    expect(receiver.requests).toHaveLength(3);
    expect(receiver.requests[2].headers['webhook-id']).toBe(receiver.requests[1].headers['webhook-id']);

    const missing = await pier_('webhooks', 'show', 'whd_nope');
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('no webhook delivery');
    const removed = await pier_('webhooks', 'endpoint', m.merchantCode, '--no-url');
    expect(removed.stdout).toContain('(none');
  });

  it("never writes a receiver's control characters to the operator's terminal: `show` and `list` print them escaped", async () => {
    // a notice_url anyone can give points at a receiver whose answer carries terminal escapes
    // (clear the screen, set the clipboard through OSC 52)
    const hostile = createServer((_req, res) => res.writeHead(500, { 'content-type': 'text/plain' }).end('\x1b[2J\x1b]52;c;cGF5bG9hZA==\x07owned\x9b31m'));
    await new Promise<void>((r) => hostile.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(hostile.address() as AddressInfo).port}/hook`;
      // (the test above moved the clock past the token's life)
      const signedIn = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
      const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: signedIn.body.response.access_token, body: { merchant_uid: 'cli_escapes', amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '9090' }), expiry: '2030-12', notice_url: url } });
      expect(paid.body.code).toBe(0);
      await runner.drain();
      const list = await pier_('webhooks', 'list', '--imp-uid', paid.body.response.imp_uid);
      const id = /^(whd_\w+)/m.exec(list.stdout)![1];
      const show = await pier_('webhooks', 'show', id);
      expect(show.stdout).toContain('owned');
      for (const printed of [show.stdout, list.stdout]) expect(printed).not.toMatch(/[\u0000-\u0008\u000B-\u001F\u007F-\u009F]/);
      expect(show.stdout).toContain('\\x1b[2J');
    } finally {
      hostile.closeAllConnections();
      await new Promise<void>((r) => hostile.close(() => r()));
    }
  });
});
