import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_CACHE_MS } from '../../src/core/merchants/auth.js';
import { rotateApiKey } from '../../src/core/merchants/merchants.js';
import { openStore } from '../../src/store/db.js';
import { startTestPier, type TestPier, type TestMerchant } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('POST /users/getToken', () => {
  it('issues a 30-minute token from a JSON body', async () => {
    const fresh = await pier.newMerchant();
    const res = await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    expect(res.body.message).toBeNull();
    const now = Math.floor(pier.clock.now() / 1000);
    expect(res.body.response).toEqual({ access_token: fresh.token, now, expired_at: expect.any(Number) });
    expect(res.body.response.access_token).toMatch(/^[0-9a-f]{40}$/);
  });

  it('accepts a form-encoded body and returns the same token while it is valid', async () => {
    const res = await pier.call('POST', '/users/getToken', { form: `imp_key=${m.impKey}&imp_secret=${encodeURIComponent(m.impSecret)}` });
    expect(res.body.code).toBe(0);
    expect(res.body.response.access_token).toBe(m.token);
  });

  it('extends the token by five minutes when asked for in its last minute, then issues a new one after expiry', async () => {
    const fresh = await pier.newMerchant();
    const first = await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } });
    const expiredAt = first.body.response.expired_at;
    expect(expiredAt - first.body.response.now).toBe(1800);
    pier.clock.advance((1800 - 30) * 1000);
    const extended = await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } });
    expect(extended.body.response.access_token).toBe(first.body.response.access_token);
    expect(extended.body.response.expired_at).toBe(expiredAt + 300);
    pier.clock.advance(331 * 1000); // now 1 s past the extended expiry
    const expired = await pier.call('GET', '/cards', { token: fresh.token });
    expect(expired.status).toBe(401);
    const renewed = await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } });
    expect(renewed.body.response.access_token).not.toBe(first.body.response.access_token);
    expect(renewed.body.response.expired_at - renewed.body.response.now).toBe(1800);
    m = await pier.newMerchant(); // the shared merchant's token also expired with the clock
  });

  it('answers 401 with the envelope for a wrong secret', async () => {
    const res = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: 'wrong' } });
    expect(res.status).toBe(401);
    expect(res.body).toEqual({ code: -1, message: '아임포트 API 인증에 실패하였습니다.', response: null });
  });

  it('names the missing parameters', async () => {
    const res = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey } });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({ code: -1, message: 'imp_key, imp_secret 파라메터가 누락되었습니다.', response: null });
  });

  it('stops accepting the old key and its tokens after rotation', async () => {
    const fresh = await pier.newMerchant();
    const rotated = await rotateApiKey(pier.deps, fresh.merchantId);
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(401);
    expect((await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } })).status).toBe(401);
    const res = await pier.call('POST', '/users/getToken', { body: { imp_key: rotated.impKey, imp_secret: rotated.impSecret } });
    expect(res.body.code).toBe(0);
  });
});

describe('tokens remembered by this process (docs/decisions/0017-payment-round-trips.md)', () => {
  it('stops accepting a key revoked by another process within TOKEN_CACHE_MS, and at once when revoked here', async () => {
    const fresh = await pier.newMerchant();
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(200);
    // another process on the same database (the CLI, the console of another Pier) rotates the key
    const elsewhere = openStore(pier.databaseUrl, { poolSize: 1 });
    try {
      await rotateApiKey({ ...pier.deps, store: elsewhere }, fresh.merchantId);
    } finally {
      await elsewhere.close();
    }
    // within the bound this process may still answer from memory; never once it has passed
    pier.clock.advance(TOKEN_CACHE_MS - 1);
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(200);
    pier.clock.advance(1);
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(401);

    const other = await pier.newMerchant();
    expect((await pier.call('GET', '/cards', { token: other.token })).status).toBe(200);
    await rotateApiKey(pier.deps, other.merchantId);
    expect((await pier.call('GET', '/cards', { token: other.token })).status).toBe(401);
  });

  it('never answers from memory for a token past its expiry, nor after the clock was moved back', async () => {
    const fresh = await pier.newMerchant();
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(200);
    const { expired_at } = (await pier.call('POST', '/users/getToken', { body: { imp_key: fresh.impKey, imp_secret: fresh.impSecret } })).body.response;
    pier.clock.set(expired_at * 1000 - 1000);
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(200);
    pier.clock.advance(1000);
    expect((await pier.call('GET', '/cards', { token: fresh.token })).status).toBe(401);

    // a clock moved back makes the entry stale: the database is asked (and still knows the token)
    const back = await pier.newMerchant();
    expect((await pier.call('GET', '/cards', { token: back.token })).status).toBe(200);
    const elsewhere = openStore(pier.databaseUrl, { poolSize: 1 });
    try {
      await rotateApiKey({ ...pier.deps, store: elsewhere }, back.merchantId);
    } finally {
      await elsewhere.close();
    }
    pier.clock.advance(-1);
    expect((await pier.call('GET', '/cards', { token: back.token })).status).toBe(401);
    m = await pier.newMerchant(); // the shared merchant's token expired with the clock
  });
});

describe('token headers', () => {
  it('accepts Authorization: Bearer, a raw Authorization and X-ImpTokenHeader', async () => {
    const variants: Record<string, string>[] = [{ authorization: `Bearer ${m.token}` }, { authorization: m.token }, { 'x-imptokenheader': m.token }];
    for (const headers of variants) {
      const res = await pier.call('GET', '/cards', { headers });
      expect(res.status).toBe(200);
      expect(res.body.code).toBe(0);
    }
  });

  it('prefers Authorization over X-ImpTokenHeader', async () => {
    const res = await pier.call('GET', '/cards', { headers: { authorization: 'Bearer nope', 'x-imptokenheader': m.token } });
    expect(res.status).toBe(401);
  });

  it('answers 401 with the envelope when the token is missing or unknown', async () => {
    const none = await pier.call('GET', '/payments/imp_000000000000');
    expect(none.status).toBe(401);
    expect(none.body).toMatchObject({ code: -1, response: null });
    expect(none.body.message).toMatch(/Unauthorized/);
    const bad = await pier.call('GET', '/payments/imp_000000000000', { token: 'f'.repeat(40) });
    expect(bad.status).toBe(401);
  });
});
