import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NICE_SANDBOX_KEYS } from '../../src/connectors/nicepay/channel-rules.js';
import { createNicepaySimulator, type NicepaySimulator } from '../../src/simulators/nicepay/index.js';
import { testCardNumber } from '../harness.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

/**
 * The console's NICE channel form (issue #13 item 1, 5): NICE's own names for its credentials, a
 * write-only secretKey, no cancel password, the mode the key decides, a base URL, the webhook URL
 * to register at NICE; and the PG each payment and billing key belongs to.
 */
const NICE = NICE_SANDBOX_KEYS[0];
let c: ConsolePier;
let u: ConsoleUser;
let a: Agent;
let sim: NicepaySimulator;
let simUrl: string;

beforeAll(async () => {
  c = await startConsolePier();
  sim = createNicepaySimulator({ dbFile: ':memory:', clock: c.pier.clock });
  simUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
  u = await c.newUser();
  a = c.agent();
  expect((await a.signIn(u.email, u.password)).status).toBe(303);
});
afterAll(async () => {
  await sim?.close();
  await c?.close();
});

describe('console: NICE channels', () => {
  it("shows NICE's form: clientId and secretKey, a base URL, and no cancel password", async () => {
    const page = await a.get('/console/channels?provider=nice_v2');
    expect(page.status).toBe(200);
    const form = /<form[^>]*id="channel-form"[\s\S]*?<\/form>/.exec(page.body)![0];
    expect(form).toContain('data-provider="nice_v2"');
    expect(form).toContain('PG상점아이디 (clientId)');
    expect(form).toContain('PG상점 Secret (secretKey)');
    expect(form).toContain('name="base_url"');
    expect(form).not.toContain('name="cancel_password"');
    // JTNET's form keeps its MID, merchantKey and cancel password, and has no base URL
    const jt = /<form[^>]*id="channel-form"[\s\S]*?<\/form>/.exec((await a.get('/console/channels')).body)![0];
    expect(jt).toContain('data-provider="jtnet"');
    expect(jt).toContain('name="cancel_password"');
    expect(jt).not.toContain('name="base_url"');
  });

  it('refuses a live channel with a sandbox key, and a bad base URL, marking the fields', async () => {
    const r = await a.post('/console/channels', { provider: 'nice_v2', kind: 'api', mid: 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', merchant_key: 'secret-never-echoed', base_url: 'http://user:pw@127.0.0.1:1/' });
    expect(r.status).toBe(400);
    expect(r.body).toContain('S1_·S2_ 키는 테스트모드');
    expect(r.body).toContain('사용자 정보·쿼리(?)·#은 넣을 수 없습니다');
    expect(r.body).not.toContain('secret-never-echoed');
    const api = await a.api('POST', '/console/api/channels', { provider: 'nice_v2', kind: 'api', mid: 'R2_0123456789abcdef0123456789abcdef', merchant_key: 'fedcba9876543210fedcba9876543210', test_mode: true, cancel_password: '1234' });
    expect(api.status).toBe(400);
    expect(Object.keys(api.json.error.fields).sort()).toEqual(['cancel_password', 'test_mode']);
    // a secretKey that lost a character: billing and key-in would fail on it (encData A2 needs all 32)
    const short = await a.post('/console/channels', { provider: 'nice_v2', kind: 'api', mid: NICE.mid, merchant_key: NICE.merchantKey.slice(0, 31), test_mode: 'on' });
    expect(short.status).toBe(400);
    expect(short.body).toContain('형식이나 길이가 올바르지 않습니다');
    expect(short.body).not.toContain(NICE.merchantKey.slice(0, 31));
    const rows = await c.pier.store.db.selectFrom('pg_channels').select('provider').where('merchant_id', '=', u.merchant.merchantId).where('provider', '=', 'nice_v2').execute();
    expect(rows).toHaveLength(0);
  });

  it('adds a NICE sandbox channel: the secret is sealed and masked, the channel page shows the webhook URL to register', async () => {
    const r = await a.post('/console/channels', { provider: 'nice_v2', kind: 'api', mid: NICE.mid, merchant_key: NICE.merchantKey, base_url: simUrl, test_mode: 'on' });
    expect(r.status, r.body.slice(0, 300)).toBe(303);
    const row = await c.pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', u.merchant.merchantId).where('provider', '=', 'nice_v2').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ mid: NICE.mid, kind: 'api', sandbox: 1, is_default: 0, base_url: simUrl });
    expect(row.merchant_key_sealed).not.toContain(NICE.merchantKey);
    const list = await a.get('/console/channels');
    expect(list.body).toContain(`nice_v2.${NICE.mid}`);
    expect(list.body).toContain('NICE페이먼츠');
    expect(list.body).not.toContain(NICE.merchantKey);
    const api = (await a.get('/console/api/channels')).json.channels.find((x: { id: string }) => x.id === row.id);
    expect(api).toMatchObject({ pg: `nice_v2.${NICE.mid}`, pg_label: 'NICE페이먼츠', merchant_key: '********', base_url: simUrl, test_mode: true, webhook_url: `http://localhost:8080/checkout/pg/${row.id}/notify` });
    const detail = await a.get(`/console/channels/${row.id}`);
    expect(detail.body).toContain(`<code id="channel-webhook-url">http://localhost:8080/checkout/pg/${row.id}/notify</code>`);
    expect(detail.body).toContain('NICE페이먼츠 관리자(개발정보 → 웹훅)');
    expect(detail.body).not.toContain(NICE.merchantKey);
    // a JTNET channel's deposit notice URL is registered in tPay's admin as well: the window carries none (decision 0086)
    const jt = (await a.get('/console/api/channels')).json.channels.find((x: { provider: string }) => x.provider === 'jtnet');
    expect(jt.webhook_url).toBe(`http://localhost:8080/checkout/pg/${jt.id}/notify`);
    const jtDetail = await a.get(`/console/channels/${jt.id}`);
    expect(jtDetail.body).toContain(`<code id="channel-webhook-url">http://localhost:8080/checkout/pg/${jt.id}/notify</code>`);
    expect(jtDetail.body).toContain('JTNet(tPay) 관리자(가맹점 관리자 → 가상계좌 입금통보 URL)');
  });

  it('edits a NICE channel: blank secret keeps the stored one, the base URL can be cleared', async () => {
    const row = await c.pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', u.merchant.merchantId).where('provider', '=', 'nice_v2').executeTakeFirstOrThrow();
    const cleared = await a.api('PATCH', `/console/api/channels/${row.id}`, { base_url: '' });
    expect(cleared.status).toBe(200);
    expect(cleared.json.channel.base_url).toBeNull();
    const restored = await a.api('PATCH', `/console/api/channels/${row.id}`, { base_url: simUrl, name: 'NICE API' });
    expect(restored.json.channel).toMatchObject({ base_url: simUrl, name: 'NICE API' });
    const after = await c.pier.store.db.selectFrom('pg_channels').select('merchant_key_sealed').where('id', '=', row.id).executeTakeFirstOrThrow();
    expect(c.pier.deps.vault.open(after.merchant_key_sealed)).toBe(NICE.merchantKey);
  });

  it('names the PG of each payment and billing key in the lists and detail pages', async () => {
    const token = (await c.pier.call('POST', '/users/getToken', { body: { imp_key: u.merchant.impKey, imp_secret: u.merchant.impSecret } })).body.response.access_token;
    const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213' };
    const nicePay = await c.pier.call('POST', '/subscribe/payments/onetime', { token, body: { pg: 'nice_v2', merchant_uid: 'console_nice_1', amount: 5000, ...card } });
    expect(nicePay.body.response, JSON.stringify(nicePay.body)).toMatchObject({ pg_provider: 'nice_v2', status: 'paid' });
    const jtPay = await c.pier.call('POST', '/subscribe/payments/onetime', { token, body: { merchant_uid: 'console_jtnet_1', amount: 5000, ...card } });
    expect(jtPay.body.response.pg_provider).toBe('jtnet');
    const key = await c.pier.call('POST', '/subscribe/customers/console_nice_key', { token, body: { pg: 'nice_v2', ...card } });
    expect(key.body.response, JSON.stringify(key.body)).toMatchObject({ pg_provider: 'nice_v2' });

    const list = await a.get('/console/payments');
    const rowOf = (uid: string) => new RegExp(`<tr[^>]*>(?:(?!</tr>)[\\s\\S])*${uid}(?:(?!</tr>)[\\s\\S])*</tr>`).exec(list.body)?.[0] ?? '';
    expect(rowOf('console_nice_1')).toContain('<span class="pg-label" data-pg="nice_v2">NICE페이먼츠</span>');
    expect(rowOf('console_jtnet_1')).toContain('<span class="pg-label" data-pg="jtnet">JTNet(tPay)</span>');
    const detail = await a.get(`/console/payments/${nicePay.body.response.imp_uid}`);
    expect(detail.body).toContain(`NICE페이먼츠 <code>nice_v2.${NICE.mid}</code>`);
    const keys = await a.get('/console/billing-keys');
    expect(keys.body).toContain('<span class="pg-label" data-pg="nice_v2">NICE페이먼츠</span>');
    const keyPage = await a.get('/console/billing-keys/console_nice_key');
    expect(keyPage.body).toContain(`NICE페이먼츠 <code>nice_v2.${NICE.mid}</code>`);
  });
});
