import { baseUrlProblems, secretProblems } from '../channel-rules.js';
import type { ChannelProblem, ChannelRules, TestAccount } from '../types.js';
import { NICE_SECRET_KEY_LENGTH } from './crypto.js';

/**
 * NICE's published sandbox key pair for server approval (spec §9, from NICE's README and node
 * sample; `S2_` = Server 승인). It is public: never register webhooks with it at NICE. The NICE
 * simulator accepts it; Pier's sandbox demo merchant uses it for its window and API channels.
 */
export const NICE_SANDBOX_KEYS = [
  { mid: 'S2_af4543a0be4d49a98122e01ec2059a56', kind: 'window', name: 'NICE페이먼츠 결제창 테스트', merchantKey: '9eb85607103646da9f9c02b128f2e5ee', cancelPassword: '', demoDefault: false },
  { mid: 'S2_af4543a0be4d49a98122e01ec2059a56', kind: 'api', name: 'NICE페이먼츠 API 테스트', merchantKey: '9eb85607103646da9f9c02b128f2e5ee', cancelPassword: '', demoDefault: false },
] as const satisfies readonly TestAccount[];

/**
 * A NICE Start API key pair (spec §0.1): `S1_`/`S2_` sandbox, `R1_`/`R2_` live, or an older bare
 * 32-hex key (whose mode Pier cannot tell). At most 50 characters.
 */
const CLIENT_ID = /^(?:[SR][12]_[A-Za-z0-9]{1,47}|[0-9a-fA-F]{32})$/;

/** The mode a clientId's prefix decides: NICE picks sandbox or live by the key (spec §0.2). */
export function niceKeyMode(clientId: string): 'sandbox' | 'live' | 'unknown' {
  if (/^S\d_/.test(clientId)) return 'sandbox';
  if (/^R\d_/.test(clientId)) return 'live';
  return 'unknown';
}

/**
 * A NICE channel: clientId + secretKey (HTTP Basic, spec §0.3), no cancel password, sandbox or live
 * by the key, and optionally its own base URL (the simulator, a NICE-compatible endpoint).
 */
export const nicepayChannelRules: ChannelRules = {
  accountIdLabel: 'clientId',
  secretLabel: 'secretKey',
  accountIdExample: 'S2_af4543a0be4d49a98122e01ec2059a56',
  cancelPassword: false,
  baseUrl: true,
  registeredNotifyUrl: true,
  notifyUrlSetting: { ko: '개발정보 → 웹훅', en: '개발정보 → 웹훅 (Webhook)' },
  testAccounts: NICE_SANDBOX_KEYS,
  impliedSandbox(clientId) {
    const mode = niceKeyMode(clientId);
    return mode === 'unknown' ? null : mode === 'sandbox';
  },
  check(s, o) {
    const problems: ChannelProblem[] = [];
    if (!s.mid) problems.push({ field: 'mid', code: 'required', message: 'clientId is required' });
    else if (s.mid.length > 50 || !CLIENT_ID.test(s.mid)) {
      problems.push({ field: 'mid', code: 'invalid', message: 'clientId: a NICE key such as S2_… (sandbox), R2_… (live) or 32 hex digits, at most 50 characters' });
    } else {
      const mode = niceKeyMode(s.mid);
      if (mode === 'sandbox' && !s.sandbox) problems.push({ field: 'sandbox', code: 'mode_mismatch', message: `clientId ${s.mid.slice(0, 3)}… is a sandbox key: a live channel needs an R1_/R2_ key` });
      if (mode === 'live' && s.sandbox) problems.push({ field: 'sandbox', code: 'mode_mismatch', message: `clientId ${s.mid.slice(0, 3)}… is a live key: a sandbox channel needs an S1_/S2_ key` });
    }
    const secret = secretProblems(s, o, { label: 'secretKey', max: 100 });
    problems.push(...secret);
    // NICE issues 32-character secret keys, and billing/key-in encrypt the card with the whole key
    // (encData A2, spec §3.1): another length fails at the first charge, so it is refused here
    if (secret.length === 0 && s.merchantKey && s.merchantKey.length !== NICE_SECRET_KEY_LENGTH) {
      problems.push({ field: 'merchantKey', code: 'invalid', message: `secretKey: exactly ${NICE_SECRET_KEY_LENGTH} characters, as NICE's admin shows it (this one has ${s.merchantKey.length})` });
    }
    if (s.cancelPassword) problems.push({ field: 'cancelPassword', code: 'not_allowed', message: 'NICE has no cancel password: leave it empty' });
    problems.push(...baseUrlProblems(s.baseUrl));
    return problems;
  },
};
