import { noBaseUrl, secretProblems } from '../channel-rules.js';
import type { ChannelProblem, ChannelRules } from '../types.js';

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
  registeredNotifyUrl: false,
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
