/**
 * The done-criterion of issue #10: a fuzz run over every operation (every V1 path and every Pier
 * API path in the OpenAPI document) with malformed input, in-process and over a raw socket
 * (oversized URL and headers, bad chunking, Transfer-Encoding with Content-Length, invalid JSON,
 * wrong content types, huge bodies), gives no answer without the V1 envelope and no HTTP 500.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1_ENDPOINTS } from '../../src/api/v1-endpoints.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { rawRequest } from './raw-http.js';

let pier: TestPier;
let m: TestMerchant;
let port: number;
let operations: { method: string; path: string }[];

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const url = await pier.app.listen({ host: '127.0.0.1', port: 0 });
  port = Number(new URL(url).port);
  const doc = pier.app.swagger() as { paths: Record<string, Record<string, unknown>> };
  const seen = new Set<string>();
  operations = [];
  const add = (method: string, path: string) => {
    const key = `${method} ${path}`;
    if (!seen.has(key)) operations.push({ method, path }), seen.add(key);
  };
  for (const e of V1_ENDPOINTS) add(e.method, e.path);
  for (const [path, methods] of Object.entries(doc.paths)) for (const method of Object.keys(methods)) add(method.toUpperCase(), path);
});
afterAll(async () => {
  await pier?.close();
});

/** fills `{param}` templates */
const fill = (path: string, value: string) => path.replace(/\{[^}]+\}/g, value);

interface Answer {
  what: string;
  status: number;
  body: string;
}

function envelopeProblem(a: Answer): string | null {
  if (a.status >= 500 && a.status !== 501 && a.status !== 502) return `HTTP ${a.status}`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.body);
  } catch {
    return 'not JSON';
  }
  const e = parsed as Record<string, unknown>;
  if (!e || typeof e !== 'object' || Array.isArray(e)) return 'not an object';
  if (typeof e.code !== 'number') return 'no numeric code';
  if (!('message' in e) || (e.message !== null && typeof e.message !== 'string')) return 'no message';
  if (!('response' in e)) return 'no response';
  if (e.code !== 0 && e.response !== null) return 'error with a response';
  return null;
}

describe('fuzzing every operation', () => {
  it('answers every malformed request in-process with the V1 envelope', async () => {
    const bodies: { name: string; headers: Record<string, string>; payload?: string }[] = [
      { name: 'invalid JSON', headers: { 'content-type': 'application/json' }, payload: '{"merchant_uid": "x", amount: ' },
      { name: 'empty JSON', headers: { 'content-type': 'application/json' }, payload: '' },
      { name: 'JSON array', headers: { 'content-type': 'application/json' }, payload: '[1,2,3]' },
      { name: 'JSON null', headers: { 'content-type': 'application/json' }, payload: 'null' },
      { name: 'JSON string', headers: { 'content-type': 'application/json' }, payload: '"hello"' },
      { name: 'wrong types', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ amount: '1e309', merchant_uid: { $gt: '' }, imp_uid: [null], customer_uid: 12, schedules: 'x', card_number: true, by: '9'.repeat(30), url: 'http://[::1', checksum: -1 }) },
      { name: 'NUL', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ merchant_uid: 'a\u0000b', imp_uid: '\u0000' }) },
      { name: 'deep nesting', headers: { 'content-type': 'application/json' }, payload: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000) },
      { name: 'text/plain', headers: { 'content-type': 'text/plain' }, payload: 'hello' },
      { name: 'xml', headers: { 'content-type': 'application/xml' }, payload: '<a/>' },
      { name: 'multipart', headers: { 'content-type': 'multipart/form-data; boundary=x' }, payload: '--x\r\n\r\n--x--' },
      { name: 'bad charset', headers: { 'content-type': 'application/json; charset=utf-9' }, payload: '{}' },
      { name: 'form junk', headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'a[b][c][d][e][f][g][h]=1&amount=abc&amount=1&schedules[0][amount]=-5&%zz=%' },
      { name: 'huge body', headers: { 'content-type': 'application/json' }, payload: JSON.stringify({ x: 'a'.repeat(80_000) }) },
    ];
    const params = ['imp_123', '%00', 'a'.repeat(600), '..%2F..%2Fetc', '%E0%A4%A', ' ', "'; DROP TABLE payments;--"];
    const answers: Answer[] = [];
    for (const op of operations) {
      for (const p of params) {
        for (const token of [m.token, null, 'forged-token']) {
          const url = `${fill(op.path, p)}?limit=-1&page=abc&from=1e99&a[][][]=1`;
          const res = await pier.app.inject({ method: op.method as 'GET', url, headers: token ? { authorization: `Bearer ${token}` } : {} });
          answers.push({ what: `${op.method} ${url} token=${token ? 'yes' : 'no'}`, status: res.statusCode, body: res.body });
        }
      }
      if (op.method === 'GET') continue;
      for (const b of bodies) {
        const res = await pier.app.inject({ method: op.method as 'POST', url: fill(op.path, 'fuzz_1'), headers: { ...b.headers, authorization: `Bearer ${m.token}` }, payload: b.payload });
        answers.push({ what: `${op.method} ${op.path} ${b.name}`, status: res.statusCode, body: res.body });
      }
    }
    const bad = answers.map((a) => ({ a, problem: envelopeProblem(a) })).filter((x) => x.problem !== null);
    expect(bad.map((x) => `${x.a.what}: ${x.problem} (HTTP ${x.a.status}) ${x.a.body.slice(0, 120)}`)).toEqual([]);
    expect(answers.length).toBeGreaterThan(2000);
  });

  it('answers every HTTP-layer malformation over a raw socket with the V1 envelope', async () => {
    const answers: Answer[] = [];
    const auth = `Authorization: Bearer ${m.token}\r\n`;
    for (const op of operations) {
      const path = fill(op.path, 'fuzz_2');
      const cases: [string, string][] = [
        ['oversized URL', `${op.method} ${path}?q=${'x'.repeat(17_000)} HTTP/1.1\r\nHost: x\r\n\r\n`],
        ['oversized header', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\nX-Fill: ${'y'.repeat(17_000)}\r\n\r\n`],
        ['TE and CL', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`],
        ['bad chunk size', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nXYZ\r\n{}\r\n0\r\n\r\n`],
        ['chunk longer than said', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n1\r\n{}}}\r\n0\r\n\r\n`],
        ['two Content-Lengths', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}`],
        ['bad header name', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\nBad Header: 1\r\n\r\n`],
        ['invalid JSON', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 8\r\nConnection: close\r\n\r\n{"a":tru`],
        ['huge body', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: application/json\r\nContent-Length: 90000\r\nConnection: close\r\n\r\n{"x":"${'z'.repeat(89_990)}"}`],
        ['wrong content type', `${op.method} ${path} HTTP/1.1\r\nHost: x\r\n${auth}Content-Type: text/html\r\nContent-Length: 2\r\nConnection: close\r\n\r\n<>`],
      ];
      for (const [name, bytes] of cases) {
        const res = await rawRequest(port, bytes);
        answers.push({ what: `${op.method} ${op.path} ${name}`, ...res });
      }
    }
    for (const [name, bytes] of [
      ['unknown method', 'BREW /payments/x HTTP/1.1\r\nHost: x\r\n\r\n'],
      ['not HTTP', 'hello there\r\n\r\n'],
      ['TLS to plain HTTP', '\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03'],
      ['HTTP/2 preface', 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'],
      ['absolute URL', 'GET http://evil.example/payments/x HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'],
      ['HTTP/1.0 no host', 'GET /payments/x HTTP/1.0\r\n\r\n'],
    ] as const) {
      const res = await rawRequest(port, bytes);
      answers.push({ what: name, ...res });
    }
    const bad = answers.map((a) => ({ a, problem: envelopeProblem(a) })).filter((x) => x.problem !== null);
    expect(bad.map((x) => `${x.a.what}: ${x.problem} (HTTP ${x.a.status}) ${x.a.body.slice(0, 120)}`)).toEqual([]);
  });
});
