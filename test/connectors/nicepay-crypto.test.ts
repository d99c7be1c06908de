/**
 * NICE's integrity functions against every golden vector of spec nicepay.md §10 and the AES vectors of §3.1.
 */
import { describe, expect, it } from 'vitest';
import {
  encDataPlaintext,
  encryptEncDataA1,
  encryptEncDataA2,
  paymentSignature,
  returnUrlSignature,
  signaturesEqual,
} from '../../src/connectors/nicepay/crypto.js';

describe('NICE signatures (spec §10 golden vectors)', () => {
  const returnUrlVectors = [
    { n: 1, secret: '9eb85607103646da9f9c02b128f2e5ee', authToken: 'NICEUNTTB06096FF8F653AA366E7EEED1101AAAE', clientId: 'S2_af4543a0be4d49a98122e01ec2059a56', expected: '99ea68bf15681741e793ece56ab87891b9bdc94cd54abdcb55b2884f4336155a' },
    { n: 3, secret: '4f13ca267dfa4fc6964148bedcda15ef', authToken: 'NICEUNTT9FBBD87FD2393AFEE45A7DCA61C194AA', clientId: '58e3b578555e45738d6b569e53d5ae54', expected: '7cc95c592e2a12f0292e1a20d68dd9eb8132fd3c0af675b981a4c1c2ce63a93b' },
  ];
  it.each(returnUrlVectors)('returnUrl signature, vector $n', (v) => {
    expect(returnUrlSignature({ authToken: v.authToken, clientId: v.clientId, amount: 1004 }, v.secret)).toBe(v.expected);
    // the browser posts the amount as text: same hash
    expect(returnUrlSignature({ authToken: v.authToken, clientId: v.clientId, amount: '1004' }, v.secret)).toBe(v.expected);
  });

  const paymentVectors = [
    { n: 2, secret: '9eb85607103646da9f9c02b128f2e5ee', tid: 'UT0000113m01012111051714341073', ediDate: '2021-11-05T17:14:35.150+0900', expected: '63b251b31c909eebef1a9f4fcc19e77bdcb8f64fc1066a29670f8627186865cd' },
    { n: 4, secret: '4f13ca267dfa4fc6964148bedcda15ef', tid: 'UT0000113m01012110051656331001', ediDate: '2021-10-05T16:56:34.447+0900', expected: '28c2e8bae912847541d4885db17648f963c7cc8e8249ff010097d6f1395df993' },
    { n: 5, secret: '13e969a77a0545799242ccc3915243d3', tid: 'UT0000104m00012303241646422011', ediDate: '2023-03-24T16:46:42.484+0900', expected: '6cd4cc86f52f15c7532f95f9be162e4f7be89292836ed02fddf6bdecb7357535' },
    { n: 6, secret: '13e969a77a0545799242ccc3915243d3', tid: 'UT0000104m00012303241646422011', ediDate: '2023-03-24T16:55:22.018+0900', expected: 'c6bb1f74d4f3134cc2d01ecdfb1e04e154b6233c77cd9206fa48fd1666cbb8c5' },
    { n: 7, secret: '13e969a77a0545799242ccc3915243d3', tid: 'UT0000104m00012303241646422011', ediDate: '2023-03-24T17:01:46.315+0900', expected: '20f0f40667e4c6bda08429edac452e090818860a112cdb9d59e636b6bbe5f45d' },
    { n: 8, secret: '13e969a77a0545799242ccc3915243d3', tid: 'UT0000104m00012303241646422011', ediDate: '2023-03-24T17:05:45.599+0900', expected: 'aa90669cf8d6604b8bfd3986937aadfe4ff36e196b33b805fb903d6caee9cc9f' },
    { n: 9, secret: '13e969a77a0545799242ccc3915243d3', tid: 'UT0000104m01012303141557092002', ediDate: '2023-03-14T16:37:24.776+0900', expected: '26e3f763efc77a41a0bdad24b996b4ed7f1db2867e767d9472d064be300f758c' },
    { n: 10, secret: '0123456789abcdef0123456789abcdef', tid: 'nicuntct1m0101210727200125A056', ediDate: '2021-07-27T20:01:25.000+0900', expected: '61ce750d1cda992ae8406f5269d09a3e27e0cb8ec9902da6008c9f02cf37c723' },
  ];
  it.each(paymentVectors)('payment object signature, vector $n', (v) => {
    expect(paymentSignature({ tid: v.tid, amount: 1004, ediDate: v.ediDate }, v.secret)).toBe(v.expected);
  });

  it('vector 8: a cancel answer is signed over the original amount, not the balance', () => {
    const v = paymentVectors.find((x) => x.n === 8)!;
    expect(paymentSignature({ tid: v.tid, amount: 0, ediDate: v.ediDate }, v.secret)).not.toBe(v.expected);
    expect(paymentSignature({ tid: v.tid, amount: 0, ediDate: v.ediDate }, v.secret).startsWith('02238a85')).toBe(true);
  });

  it('compares signatures exactly, whatever their case, and refuses non-strings', () => {
    const good = paymentVectors[0]!.expected;
    expect(signaturesEqual(good, good)).toBe(true);
    expect(signaturesEqual(good, good.toUpperCase())).toBe(true);
    expect(signaturesEqual(good, good.slice(0, -1) + (good.endsWith('a') ? 'b' : 'a'))).toBe(false);
    expect(signaturesEqual(good, good.slice(0, 10))).toBe(false);
    expect(signaturesEqual(good, undefined)).toBe(false);
    expect(signaturesEqual(good, 12)).toBe(false);
  });
});

describe('NICE encData (spec §3.1 AES vectors)', () => {
  const secret = '2dcc2a0d63bf469490bb19a201be3735';
  const plaintext = 'cardNo=1234567890123456&expYear=25&expMonth=12&idNo=800101&cardPw=12';

  it('builds the plaintext in NICE order, leaving out absent fields', () => {
    expect(encDataPlaintext({ cardNo: '1234567890123456', expYear: '25', expMonth: '12', idNo: '800101', cardPw: '12' })).toBe(plaintext);
    expect(encDataPlaintext({ cardNo: '1234567890123456', expYear: '25', expMonth: '12' })).toBe('cardNo=1234567890123456&expYear=25&expMonth=12');
  });

  it('A2: AES-256-CBC, key = secret, IV = its first 16 characters', () => {
    expect(encryptEncDataA2(plaintext, secret)).toBe(
      '6ecfe97e521bc67c3053d74a9dbdba53033d343fc9e8e38e730964b22ef2e4a59607171b00a9da977141b3f79fffa1e80a16c08bc58666b479f554a966a363414347e62f2621f8df220c7a4a545592d0',
    );
  });

  it('A1 (default, key-in): AES-128-ECB, key = the first 16 characters', () => {
    expect(encryptEncDataA1(plaintext, secret)).toBe(
      '7c4b12eb43324290bd0e522900a892343f57e0d176cdadae757132c7f3cd442f023ef5c3ffa254ed04b6d47624d4c7847e8061f3be0d67adf1b463b46a542052cf47a5206bfd23945fc1851d426468f4',
    );
  });

  it('A2 refuses a secret key that is not 32 characters rather than pad it', () => {
    expect(() => encryptEncDataA2(plaintext, secret.slice(0, 31))).toThrow(/32-character/);
  });
});
