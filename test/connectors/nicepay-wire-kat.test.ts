/**
 * Pier's NICE requests byte for byte against the examples NICE and its documentation publish
 * (decision 0133): what goes on the wire, not only the functions that build it, so a connector
 * and a simulator that drift together from NICE's real API still fail here.
 *
 * Sources (decision 0133 lists them in full):
 * - Basic credentials: `nicepayments/nicepay-manual` README.md (sandbox key pair, printed base64).
 * - GET by tid with `signData`: `SeokRae/nicepay-manual-eng` api/nicepay-api-retrieve.md (2026
 *   revision): the string hashed, the digest and the exact percent-encoded curl URL and header.
 * - encData A2: `nicepayments/nicepay-manual` api/payment-subscribe.md (AES-256 example);
 *   NICE's Java/Python subscribe samples use the same key (secret[0:32]) and IV (secret[0:16]).
 *
 * A real HTTP server records the request exactly as it arrives.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { basicAuthorization, NiceClient } from '../../src/connectors/nicepay/client.js';
import { tidSignData } from '../../src/connectors/nicepay/crypto.js';
import { toApproveCall, toEncData, toGetByTidCall } from '../../src/connectors/nicepay/transformers.js';
import { Secret } from '../../src/lib/secret.js';

interface Recorded {
  method: string;
  url: string;
  authorization: string | undefined;
  contentType: string | undefined;
  body: string;
}

let server: Server | null = null;
let client: NiceClient | null = null;

afterEach(async () => {
  await client?.close();
  client = null;
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  server = null;
});

/** A stand-in for NICE that records one request and answers a NICE-shaped decline (no signature needed). */
async function recordingNice(): Promise<{ url: string; next: Promise<Recorded> }> {
  let deliver!: (r: Recorded) => void;
  const next = new Promise<Recorded>((resolve) => (deliver = resolve));
  server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      deliver({
        method: req.method ?? '',
        url: req.url ?? '',
        authorization: req.headers.authorization,
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"resultCode":"U107","resultMsg":"no data"}');
    });
  });
  await new Promise<void>((resolve) => server!.listen(0, '127.0.0.1', () => resolve()));
  return { url: `http://127.0.0.1:${(server!.address() as AddressInfo).port}`, next };
}

describe("NICE's published wire examples", () => {
  it('Basic credentials of the sandbox key pair are exactly the ones the official README prints', () => {
    const channel = { mid: 'S2_af4543a0be4d49a98122e01ec2059a56', merchantKey: new Secret('9eb85607103646da9f9c02b128f2e5ee') };
    expect(basicAuthorization(channel)).toBe('Basic UzJfYWY0NTQzYTBiZTRkNDlhOTgxMjJlMDFlYzIwNTlhNTY6OWViODU2MDcxMDM2NDZkYTlmOWMwMmIxMjhmMmU1ZWU=');
  });

  it('lookup by tid: signData, percent-encoded query and Authorization as in the published curl', async () => {
    const secret = '13e969a77a0545799242ccc3915243d3';
    const tid = 'UT0000104m00012303241646422011';
    const ediDate = '2023-03-24T16:55:00.000+0900';
    // the digest the page prints for `tid + ediDate + SecretKey`
    expect(tidSignData(tid, ediDate, secret)).toBe('c78d6b12b11036bc626a018d26320aa04ba0344e9c52fd0303ef23377ca3569b');

    const nice = await recordingNice();
    client = new NiceClient({ connectTimeoutMs: 2_000, readTimeoutMs: 5_000 });
    const channel = { mid: 'S1_ce1bb1ebebc44fe1a3f7cec976c83ea7', merchantKey: new Secret(secret) };
    const answer = await client.call(nice.url, channel, 'lookup', toGetByTidCall(tid, secret, ediDate));
    const req = await nice.next;

    expect(answer.body.resultCode).toBe('U107');
    expect(req.method).toBe('GET');
    // `+` of the offset as %2B (a raw `+` reaches NICE as a space: U312), `:` as %3A, as printed
    expect(req.url).toBe(`/v1/payments/${tid}?ediDate=2023-03-24T16%3A55%3A00.000%2B0900&signData=c78d6b12b11036bc626a018d26320aa04ba0344e9c52fd0303ef23377ca3569b`);
    expect(req.authorization).toBe('Basic UzFfY2UxYmIxZWJlYmM0NGZlMWEzZjdjZWM5NzZjODNlYTc6MTNlOTY5YTc3YTA1NDU3OTkyNDJjY2MzOTE1MjQzZDM=');
    expect(req.body).toBe('');
  });

  it('approve: POST /v1/payments/{tid} with a JSON number amount and signData over tid + amount + ediDate', async () => {
    const secret = '9eb85607103646da9f9c02b128f2e5ee';
    const tid = 'UT0000113m01012111051714341073';
    const ediDate = '2021-11-05T17:14:35.150+0900';
    const nice = await recordingNice();
    client = new NiceClient({ connectTimeoutMs: 2_000, readTimeoutMs: 5_000 });
    await client.call(nice.url, { mid: 'S2_af4543a0be4d49a98122e01ec2059a56', merchantKey: new Secret(secret) }, 'approve', toApproveCall(tid, 1004, secret, ediDate));
    const req = await nice.next;

    expect(req.method).toBe('POST');
    expect(req.url).toBe(`/v1/payments/${tid}`);
    expect(req.contentType).toBe('application/json;charset=utf-8');
    // the approve signData formula is the one NICE's approve answer signs with (spec §10 vector 2, official README)
    expect(JSON.parse(req.body)).toEqual({ amount: 1004, ediDate, signData: '63b251b31c909eebef1a9f4fcc19e77bdcb8f64fc1066a29670f8627186865cd' });
  });

  it("encData of a card is the official AES-256 (A2) example, from Pier's card fields (4-digit year → YY)", () => {
    const secret = '2dcc2a0d63bf469490bb19a201be3735';
    expect(toEncData({ number: '1234567890123456', expiryYear: 2025, expiryMonth: 12, birth: '800101', pwd2digit: '12' }, secret)).toBe(
      '6ecfe97e521bc67c3053d74a9dbdba53033d343fc9e8e38e730964b22ef2e4a59607171b00a9da977141b3f79fffa1e80a16c08bc58666b479f554a966a363414347e62f2621f8df220c7a4a545592d0',
    );
  });
});
