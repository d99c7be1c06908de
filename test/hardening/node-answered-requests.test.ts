/**
 * Three requests Node's HTTP server answered itself, past Fastify and its clientErrorHandler, so
 * without the V1 envelope (decision 0094): an HTTP/1.1 request without a Host header (400, empty
 * body), an `Expect` other than `100-continue` (417, empty body), and CONNECT, on a V1 path or any
 * other target (the connection closed with no answer at all). Sent over a raw socket, as a client
 * library would never fix them up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { rawRequest } from './raw-http.js';

let pier: TestPier;
let m: TestMerchant;
let port: number;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  port = Number(new URL(await pier.app.listen({ host: '127.0.0.1', port: 0 })).port);
});
afterAll(async () => {
  await pier?.close();
});

const MALFORMED = { code: 1, message: '요청 형식이 올바르지 않습니다. (malformed HTTP request)', response: null };

describe('requests Node answers before Fastify get the V1 envelope', () => {
  it('an HTTP/1.1 request without Host: 400, code 1, and the connection closed', async () => {
    const auth = `Authorization: Bearer ${m.token}\r\n`;
    for (const bytes of [
      `GET /users/pg HTTP/1.1\r\n${auth}\r\n`,
      `POST /payments/cancel HTTP/1.1\r\n${auth}Content-Type: application/json\r\nContent-Length: 25\r\n\r\n{"merchant_uid":"no_one"}`,
      'GET /nope HTTP/1.1\r\n\r\n',
    ]) {
      const res = await rawRequest(port, bytes);
      expect(res.status, bytes).toBe(400);
      expect(JSON.parse(res.body), bytes).toEqual(MALFORMED);
      expect(res.headers.connection, bytes).toBe('close');
    }
  });

  it('still serves a request with Host, and HTTP/1.0 without one', async () => {
    for (const bytes of [`GET /users/pg HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${m.token}\r\n\r\n`, `GET /users/pg HTTP/1.0\r\nAuthorization: Bearer ${m.token}\r\n\r\n`]) {
      const res = await rawRequest(port, bytes);
      expect(res.status, bytes).toBe(200);
      expect(JSON.parse(res.body).code, bytes).toBe(0);
    }
  });

  it('an Expect other than 100-continue: 417, code 1', async () => {
    const res = await rawRequest(port, `POST /payments/cancel HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${m.token}\r\nExpect: 200-ok\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`);
    expect(res.status).toBe(417);
    expect(JSON.parse(res.body)).toEqual({ code: 1, message: '지원하지 않는 Expect 헤더입니다.', response: null });
  });

  it('CONNECT, to a V1 path or a host: 405, code -1', async () => {
    for (const target of ['/payments/cancel', 'api.iamport.kr:443']) {
      const res = await rawRequest(port, `CONNECT ${target} HTTP/1.1\r\nHost: x\r\n\r\n`);
      expect(res.status, target).toBe(405);
      expect(JSON.parse(res.body), target).toEqual({ code: -1, message: '허용되지 않는 HTTP 메소드입니다: CONNECT', response: null });
    }
  });
});
