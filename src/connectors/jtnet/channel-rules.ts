import { noBaseUrl, secretProblems } from '../channel-rules.js';
import type { ChannelProblem, ChannelRules, TestAccount } from '../types.js';

/**
 * JTNET's published test MIDs (spec/jtnet.md §1.1): the window MID, the key-in MID and the
 * billing MID, with their merchant keys and cancel passwords. The simulator knows the same ones.
 */
export const JTNET_TEST_MIDS = [
  {
    mid: 'tpaytest0m',
    kind: 'window',
    name: 'JTNet(tPay) 결제창 테스트',
    merchantKey: 'VXFVMIZGqUJx29I/k52vMM8XG4hizkNfiapAkHHFxq0RwFzPit55D3J3sAeFSrLuOnLNVCIsXXkcBfYK1wv8kQ==',
    cancelPassword: '123456',
    demoDefault: true,
  },
  {
    mid: 'tpaytest1m',
    kind: 'api',
    name: 'JTNet(tPay키인결제) 테스트',
    merchantKey: 'hgEY70BdDgoJYVOwj5CHsRDQt5a6IieQLQv+Q2rA6nnW+wXP57fH2ZkvUBJW0c9/eF1Rp5QRZ+qjzJ+Knc8r1A==',
    cancelPassword: '123456',
    demoDefault: true,
  },
  {
    mid: 'tpaytest2m',
    kind: 'api',
    name: 'JTNet(tPay) 정기결제 테스트',
    merchantKey: 'coqTx/Taxu9W6dlKPhFuciagoVXr/14ezgoK9+qJCf4bBuo23iRGGWHS4rHIuOSgZ6I/uizX39W/NygDplUYOA==',
    cancelPassword: '123456',
    demoDefault: false,
  },
] as const satisfies readonly TestAccount[];

/**
 * A tPay channel (spec/jtnet.md §1.1): a MID, its merchantKey and the cancel password refunds need.
 * tPay has one host for test and live MIDs (the MID decides), so there is no per-channel base URL.
 */
export const jtnetChannelRules: ChannelRules = {
  accountIdLabel: 'MID',
  secretLabel: 'merchantKey',
  accountIdExample: 'tpaytest1m',
  cancelPassword: true,
  baseUrl: false,
  registeredNotifyUrl: true,
  // tPay's admin menu for it is UNCONFIRMED (spec/jtnet.md lists no notice URL among the window's fields)
  notifyUrlSetting: { ko: '가맹점 관리자 → 가상계좌 입금통보 URL', en: 'merchant admin → virtual-account deposit notice URL' },
  testAccounts: JTNET_TEST_MIDS,
  check(s, o) {
    const problems: ChannelProblem[] = [];
    if (!s.mid) problems.push({ field: 'mid', code: 'required', message: 'mid is required' });
    else if (!/^[A-Za-z0-9_-]{1,80}$/.test(s.mid)) problems.push({ field: 'mid', code: 'invalid', message: 'mid: 1-80 letters, digits, _ or -' });
    problems.push(...secretProblems(s, o, { label: 'merchantKey', max: 200 }));
    if (!s.cancelPassword && !o.editing) problems.push({ field: 'cancelPassword', code: 'required', message: 'cancelPassword is required (tPay refunds need it)' });
    else if (s.cancelPassword.length > 40) problems.push({ field: 'cancelPassword', code: 'too_long', message: 'cancelPassword: at most 40 characters' });
    problems.push(...noBaseUrl(s.baseUrl, 'jtnet'));
    return problems;
  },
};
