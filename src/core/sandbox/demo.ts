import { addChannelIn } from '../merchants/channels.js';
import { createConsoleUser, generatePassword, listConsoleUsers } from '../console/users.js';
import type { Deps } from '../deps.js';
import { PierError } from '../errors.js';
import { createMerchant, DEMO_IMP_KEY, DEMO_IMP_SECRET, listMerchants } from '../merchants/merchants.js';

// the JTNET test MIDs live with the connector; tests and the console import them from here too
export { JTNET_TEST_MIDS } from '../../connectors/jtnet/channel-rules.js';

export interface DemoMerchant {
  merchantCode: string;
  merchantId: string;
  impKey: string;
  impSecret: string;
  created: boolean;
}

/**
 * On the first sandbox start, creates the demo merchant with i'mport's public demo REST pair and a
 * sandbox channel for every published test account of every PG (JTNET's three test MIDs, NICE's
 * sandbox key pair), JTNET's being the defaults so `pg`-less demo requests keep going to JTNET.
 * The merchant and its channels are one transaction (decision 0122): a start killed or failing
 * before the last channel leaves no demo merchant, and the next start makes it whole. Later starts
 * find it and change nothing (an operator may have removed or added channels since).
 */
export async function ensureDemoMerchant(deps: Deps): Promise<DemoMerchant | null> {
  const existing = await listMerchants(deps);
  if (existing.length > 0) return demoAmong(existing);
  let m: Awaited<ReturnType<typeof createMerchant>>;
  try {
    m = await createMerchant(deps, { name: 'Pier Demo Shop', impKey: DEMO_IMP_KEY, impSecret: DEMO_IMP_SECRET }, async (trx, merchantId) => {
      for (const provider of deps.connectors.providers()) {
        for (const t of deps.connectors.channelRules(provider)?.testAccounts ?? []) {
          await addChannelIn(deps, trx, merchantId, {
            provider,
            mid: t.mid,
            merchantKey: t.merchantKey,
            cancelPassword: t.cancelPassword,
            kind: t.kind,
            sandbox: true,
            isDefault: t.demoDefault,
            name: t.name,
          });
        }
      }
    });
  } catch (err) {
    // another Pier starting on this database at the same moment read "no merchant" too and
    // inserted the demo key first (decision 0104): its merchant, committed with every channel
    // (decision 0122), is the demo. Refused otherwise, the second start failed on the unique index.
    if (err instanceof PierError && err.kind === 'refused') {
      const demo = demoAmong(await listMerchants(deps));
      if (demo) return demo;
    }
    throw err;
  }
  return { merchantCode: m.merchantCode, merchantId: m.merchantId, impKey: m.impKey, impSecret: m.impSecret, created: true };
}

/** The demo merchant among `merchants` (the one with i'mport's demo REST key), as found by a later start. */
function demoAmong(merchants: Awaited<ReturnType<typeof listMerchants>>): DemoMerchant | null {
  const demo = merchants.find((m) => m.imp_keys.includes(DEMO_IMP_KEY));
  return demo ? { merchantCode: demo.merchant_code, merchantId: demo.id, impKey: DEMO_IMP_KEY, impSecret: DEMO_IMP_SECRET, created: false } : null;
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
  try {
    const user = await createConsoleUser(deps, m.id, DEMO_CONSOLE_EMAIL, password);
    return { email: user.email, password };
  } catch (err) {
    // another Pier starting at the same moment made it first and shows its password (decision 0104)
    if (err instanceof PierError && err.kind === 'refused') {
      const made = await listConsoleUsers(deps, m.id);
      if (made.length > 0) return { email: made[0].email, password: null };
    }
    throw err;
  }
}
