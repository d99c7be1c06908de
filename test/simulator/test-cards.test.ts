import { describe, expect, it } from 'vitest';
import { luhnValid } from '../../src/lib/card.js';
import { companyByKftc, DOMESTIC_KFTC_CODES, TPAY_CARD_COMPANIES } from '../../src/simulators/jtnet/card-companies.js';
import {
  amountTrigger,
  cardFacts,
  checkAmountAndQuota,
  isExpired,
  issuerDecline,
  ISSUER_REASONS,
  lastFourRule,
  parseCardExp,
  TEST_DECLINE_CODES,
  testCardNumber,
  validateCard,
} from '../../src/simulators/jtnet/test-cards.js';

const JAN_15_2026 = Date.UTC(2026, 0, 15, 3, 0, 0);

describe('testCardNumber', () => {
  it('builds Luhn-valid 16-digit PANs of the shape 9CCC-T…-RRRR', () => {
    const pan = testCardNumber({ kftcCode: '366', lastFour: '0054' });
    expect(pan).toHaveLength(16);
    expect(pan.startsWith('93660')).toBe(true);
    expect(pan.endsWith('0054')).toBe(true);
    expect(luhnValid(pan)).toBe(true);
    const check = testCardNumber({ kftcCode: '041', check: true, lastFour: '1234' });
    expect(check.startsWith('90411')).toBe(true);
    expect(luhnValid(check)).toBe(true);
    const visa = testCardNumber({ prefix: '411111', lastFour: '1111' });
    expect(visa.startsWith('411111')).toBe(true);
    expect(luhnValid(visa)).toBe(true);
  });
});

describe('cardFacts', () => {
  it('reads the KFTC code from digits 2-4 and the check-card flag from digit 5', () => {
    expect(cardFacts(testCardNumber({ kftcCode: '366', lastFour: '4242' }))).toEqual({ overseas: false, kftcCode: '366', cardType: 0 });
    expect(cardFacts(testCardNumber({ kftcCode: '041', check: true, lastFour: '4242' }))).toEqual({
      overseas: false,
      kftcCode: '041',
      cardType: 1,
    });
  });

  it('knows every domestic KFTC code of spec §3.1', () => {
    const spec = ['361', '381', '367', '365', '368', '371', '041', '374', '045', '373', '364', '366', '002', '369', '048', '370', '071', '089', '372', '090'];
    expect([...DOMESTIC_KFTC_CODES].sort()).toEqual([...spec].sort());
    for (const code of spec) expect(cardFacts(testCardNumber({ kftcCode: code, lastFour: '4242' })).kftcCode).toBe(code);
  });

  it('treats brand numbers as ordinary cards of an unnamed Korean issuer (BC) by default', () => {
    // Korean issuers issue Visa, Mastercard, JCB and Amex cards; merchants test with such numbers
    for (const pan of ['4092023012345677', testCardNumber({ prefix: '540000', lastFour: '4242' }), testCardNumber({ prefix: '370000', lastFour: '4242' })]) {
      expect(cardFacts(pan)).toEqual({ overseas: false, kftcCode: '361', cardType: 0 });
      expect(cardFacts(pan, 'approve')).toEqual({ overseas: false, kftcCode: '361', cardType: 0 });
    }
  });

  it('makes any number ending in 3051 an overseas card, whatever its prefix', () => {
    expect(cardFacts(testCardNumber({ prefix: '411111', lastFour: '3051' }))).toEqual({ overseas: true, kftcCode: '10005', cardType: 0 });
    expect(cardFacts(testCardNumber({ prefix: '620000', lastFour: '3051' }))).toEqual({ overseas: true, kftcCode: '10001', cardType: 0 });
    expect(cardFacts(testCardNumber({ kftcCode: '366', lastFour: '3051' }))).toMatchObject({ overseas: true });
  });

  it('with overseasCards "decline", maps brand prefixes to PortOne overseas codes and refuses them', () => {
    const cases: Array<[string, string]> = [
      ['411111', '10005'],
      ['510000', '10004'],
      ['550000', '10004'],
      ['340000', '10003'],
      ['370000', '10003'],
      ['350000', '10006'],
      ['360000', '10002'],
      ['620000', '10001'],
    ];
    for (const [prefix, code] of cases) {
      expect(cardFacts(testCardNumber({ prefix, lastFour: '4242' }), 'decline')).toEqual({ overseas: true, kftcCode: code, cardType: 0 });
    }
  });

  it('falls back to BC (361) for a PAN that names no known issuer', () => {
    expect(cardFacts(testCardNumber({ kftcCode: '999', lastFour: '4242' })).kftcCode).toBe('361');
    expect(cardFacts(testCardNumber({ prefix: '123456', lastFour: '4242' }))).toEqual({ overseas: false, kftcCode: '361', cardType: 0 });
  });

  it('every KFTC code the rules can produce has a tPay card company', () => {
    for (const c of TPAY_CARD_COMPANIES) expect(companyByKftc(c.kftcCode)?.tpayCode).toMatch(/^\d{2}$/);
    for (const code of ['10001', '10002', '10003', '10004', '10005', '10006', '361']) expect(companyByKftc(code)).toBeDefined();
  });
});

describe('lastFourRule', () => {
  it('00NN declines issuance and charges with issuer NN', () => {
    for (const nn of TEST_DECLINE_CODES) {
      const rule = lastFourRule(testCardNumber({ kftcCode: '366', lastFour: `00${nn}` }));
      expect(rule).toEqual({ issue: { kind: 'decline', nn }, charge: { kind: 'decline', nn } });
    }
  });

  it('10NN issues a billing key but declines every charge with NN', () => {
    for (const nn of TEST_DECLINE_CODES) {
      const rule = lastFourRule(testCardNumber({ kftcCode: '366', lastFour: `10${nn}` }));
      expect(rule).toEqual({ issue: { kind: 'approve' }, charge: { kind: 'decline', nn } });
    }
  });

  it('0098 holds the answer, 0099 is a system error; 1098/1099 do so on later charges only', () => {
    const pan = (l: string) => testCardNumber({ kftcCode: '366', lastFour: l });
    expect(lastFourRule(pan('0098'))).toEqual({ issue: { kind: 'slow' }, charge: { kind: 'slow' } });
    expect(lastFourRule(pan('0099'))).toEqual({ issue: { kind: 'system_error' }, charge: { kind: 'system_error' } });
    expect(lastFourRule(pan('1098'))).toEqual({ issue: { kind: 'approve' }, charge: { kind: 'slow' } });
    expect(lastFourRule(pan('1099'))).toEqual({ issue: { kind: 'approve' }, charge: { kind: 'system_error' } });
  });

  it('approves any other ending, including 00NN with an unlisted NN', () => {
    for (const l of ['4242', '0000', '0005', '0013', '0050', '1000', '1097', '2054', '9954']) {
      expect(lastFourRule(testCardNumber({ kftcCode: '366', lastFour: l }))).toEqual({
        issue: { kind: 'approve' },
        charge: { kind: 'approve' },
      });
    }
  });
});

describe('amountTrigger', () => {
  it('an amount ending in 9NN declines with NN', () => {
    expect(amountTrigger(10954)).toEqual({ kind: 'decline', nn: '54' });
    expect(amountTrigger(1926)).toEqual({ kind: 'decline', nn: '26' });
    expect(amountTrigger(50901)).toEqual({ kind: 'decline', nn: '01' });
  });
  it('998 holds the answer and 999 is a system error', () => {
    expect(amountTrigger(10998)).toEqual({ kind: 'slow' });
    expect(amountTrigger(10999)).toEqual({ kind: 'system_error' });
  });
  it('amounts ending in 000, or 9NN with an unlisted NN, approve', () => {
    for (const a of [1000, 10000, 14000, 1004, 10900, 10905, 10955]) expect(amountTrigger(a)).toEqual({ kind: 'approve' });
    expect(amountTrigger(954)).toEqual({ kind: 'decline', nn: '54' });
  });
});

describe('validateCard (natural validation)', () => {
  const good = { cardNum: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExp: '3012', cardPwd: '12', buyerAuthNum: '900101' };

  it('passes a well-formed card', () => {
    expect(validateCard(good, JAN_15_2026)).toBeNull();
  });

  it('a Luhn failure is 14, worded like PortOne\'s demo PG (유효하지않은 카드번호)', () => {
    const bad = good.cardNum.slice(0, 15) + String((Number(good.cardNum[15]) + 1) % 10);
    expect(validateCard({ ...good, cardNum: bad }, JAN_15_2026)).toEqual({
      resultCd: '3011',
      resultMsg: '유효하지않은 카드번호를 입력하셨습니다.',
      errorCd: '14',
      errorMsg: '유효하지않은 카드번호를 입력하셨습니다.',
    });
  });

  it('an expiry in the past (KST months) is 04; the current month is still valid', () => {
    expect(validateCard({ ...good, cardExp: '2512' }, JAN_15_2026)).toEqual({
      resultCd: '3021',
      resultMsg: '유효기간 오류',
      errorCd: '04',
      errorMsg: '유효기간 만료(기간오류)',
    });
    expect(validateCard({ ...good, cardExp: '2601' }, JAN_15_2026)).toBeNull();
    // 2026-01-31T15:30Z is already February 1st in Korea
    expect(isExpired('2601', Date.UTC(2026, 0, 31, 15, 30))).toBe(true);
  });

  it('a malformed expiry is 3021 without an issuer code', () => {
    expect(validateCard({ ...good, cardExp: '3013' }, JAN_15_2026)).toEqual({
      resultCd: '3021',
      resultMsg: '유효기간 오류',
      errorCd: null,
      errorMsg: null,
    });
    expect(parseCardExp('3013')).toBeNull();
    expect(parseCardExp('3012')).toEqual({ year: 2030, month: 12 });
  });

  it('birth 999999 is 51 and password 99 is 19', () => {
    expect(validateCard({ ...good, buyerAuthNum: '999999' }, JAN_15_2026)).toEqual(issuerDecline('51'));
    expect(validateCard({ ...good, cardPwd: '99' }, JAN_15_2026)).toEqual(issuerDecline('19'));
    expect(issuerDecline('51').errorMsg).toBe('주민(사업자)번호/생년월일 상이');
    expect(issuerDecline('19').errorMsg).toBe('비밀번호 상이');
  });
});

describe('checkAmountAndQuota', () => {
  it('refuses amounts under the minimum with 13', () => {
    expect(checkAmountAndQuota(99, 0, 100)).toEqual({
      resultCd: '3041',
      resultMsg: '금액 오류(100원 미만 신용카드 승인 불가)',
      errorCd: '13',
      errorMsg: '금액 오류',
    });
    expect(checkAmountAndQuota(100, 0, 100)).toBeNull();
    expect(checkAmountAndQuota(999, 0, 1000)?.errorCd).toBe('13');
  });
  it('refuses card_quota 1', () => {
    expect(checkAmountAndQuota(60000, 1, 100)).toEqual({
      resultCd: '3022',
      resultMsg: '할부개월오류 (01개월 할부는 불가능합니다)',
      errorCd: null,
      errorMsg: null,
    });
  });
  it('refuses installments under 50,000 KRW with 06 and allows them from 50,000', () => {
    expect(checkAmountAndQuota(49999, 2, 100)).toEqual({
      resultCd: '3024',
      resultMsg: '할부 최소금액 오류(50000미만)',
      errorCd: '06',
      errorMsg: '할부금액오류 또는 5만원 미만 할부불가',
    });
    expect(checkAmountAndQuota(50000, 2, 100)).toBeNull();
    expect(checkAmountAndQuota(50000, 36, 100)).toBeNull();
    expect(checkAmountAndQuota(50000, 37, 100)?.resultCd).toBe('3023');
  });
});

describe('issuer wording', () => {
  it('has the Inicis wording for every test decline code', () => {
    for (const nn of TEST_DECLINE_CODES) expect(ISSUER_REASONS[nn]).toMatch(/\S/);
    expect(ISSUER_REASONS['54']).toBe('잔액부족');
    expect(ISSUER_REASONS['26']).toBe('도난, 분실카드');
    expect(issuerDecline('54')).toEqual({ resultCd: '3095', resultMsg: '카드사 실패 응답', errorCd: '54', errorMsg: '잔액부족' });
  });
});
