import { addChannel } from '../merchants/channels.js';
import { createConsoleUser, generatePassword, listConsoleUsers } from '../console/users.js';
import type { Deps } from '../deps.js';
import { createMerchant, DEMO_IMP_KEY, DEMO_IMP_SECRET, listMerchants } from '../merchants/merchants.js';

/**
 * JTNET's published test MIDs (spec/jtnet.md §1.1): the window MID, the key-in MID and the
 * billing MID, with their merchant keys and cancel passwords. The simulator knows the same ones.
 */
export const JTNET_TEST_MIDS = [
  {
    mid: 'tpaytest0m',
    kind: 'window' as const,
    name: 'JTNet(tPay) 결제창 테스트',
    merchantKey: 'VXFVMIZGqUJx29I/k52vMM8XG4hizkNfiapAkHHFxq0RwFzPit55D3J3sAeFSrLuOnLNVCIsXXkcBfYK1wv8kQ==',
    cancelPassword: '123456',
  },
  {
    mid: 'tpaytest1m',
    kind: 'api' as const,
    name: 'JTNet(tPay키인결제) 테스트',
    merchantKey: 'hgEY70BdDgoJYVOwj5CHsRDQt5a6IieQLQv+Q2rA6nnW+wXP57fH2ZkvUBJW0c9/eF1Rp5QRZ+qjzJ+Knc8r1A==',
    cancelPassword: '123456',
  },
  {
    mid: 'tpaytest2m',
    kind: 'api' as const,
    name: 'JTNet(tPay) 정기결제 테스트',
    merchantKey: 'coqTx/Taxu9W6dlKPhFuciagoVXr/14ezgoK9+qJCf4bBuo23iRGGWHS4rHIuOSgZ6I/uizX39W/NygDplUYOA==',
    cancelPassword: '123456',
  },
];

export interface DemoMerchant {
  merchantCode: string;
  impKey: string;
  impSecret: string;
  created: boolean;
}

/**
 * On the first sandbox start, creates the demo merchant with i'mport's public demo REST pair and
 * JTNET sandbox channels for the three test MIDs. Later starts find it and change nothing.
 */
export async function ensureDemoMerchant(deps: Deps): Promise<DemoMerchant | null> {
  const existing = await listMerchants(deps);
  if (existing.length > 0) {
    const demo = existing.find((m) => m.imp_keys.includes(DEMO_IMP_KEY));
    return demo ? { merchantCode: demo.merchant_code, impKey: DEMO_IMP_KEY, impSecret: DEMO_IMP_SECRET, created: false } : null;
  }
  const m = await createMerchant(deps, { name: 'Pier Demo Shop', impKey: DEMO_IMP_KEY, impSecret: DEMO_IMP_SECRET });
  for (const t of JTNET_TEST_MIDS) {
    await addChannel(deps, m.merchantId, {
      provider: 'jtnet',
      mid: t.mid,
      merchantKey: t.merchantKey,
      cancelPassword: t.cancelPassword,
      kind: t.kind,
      sandbox: true,
      isDefault: t.mid !== 'tpaytest2m',
      name: t.name,
    });
  }
  return { merchantCode: m.merchantCode, impKey: m.impKey, impSecret: m.impSecret, created: true };
}

export const DEMO_CONSOLE_EMAIL = 'demo@pier.local';

/**
 * Gives the sandbox demo merchant a console user on first start, with a random password that the
 * caller prints once (only its hash is stored). Later starts find a user and create none.
 */
export async function ensureDemoConsoleUser(deps: Deps, merchantCode: string): Promise<{ email: string; password: string | null } | null> {
  const m = (await listMerchants(deps)).find((x) => x.merchant_code === merchantCode);
  if (!m) return null;
  const users = await listConsoleUsers(deps, m.id);
  if (users.length > 0) return { email: users[0].email, password: null };
  const password = generatePassword();
  const user = await createConsoleUser(deps, m.id, DEMO_CONSOLE_EMAIL, password);
  return { email: user.email, password };
}
