import type { PgSimulatorTools, SimulatorTx } from '../../lib/simulator-tools.js';
import type { PaymentsTable } from '../../store/types.js';
import { listChannels } from '../merchants/channels.js';
import type { Deps } from '../deps.js';

/** A simulator's transaction, as its `ledger` tool gives it. */
export type LedgerTx = SimulatorTx;

export interface LedgerRow {
  impUid: string | null;
  merchantUid: string | null;
  mid: string;
  tid: string | null;
  pier: { status: string; amount: number; cancelAmount: number } | null;
  pg: { status: string; amount: number; cancelledAmount: number } | null;
  /** the fields that differ; `missing_at_pg` / `missing_at_pier` when one side has no record */
  differences: string[];
}

/**
 * Pier's payments beside the PG's records, matched by the PG's tid or by moid (= imp_uid).
 * A failed attempt the PG never saw is not a difference (it may have failed before the call).
 */
export function compareLedger(pier: PaymentsTable[], pg: LedgerTx[]): LedgerRow[] {
  const byTid = new Map(pg.map((t) => [t.tid, t]));
  const byMoid = new Map(pg.map((t) => [t.moid, t]));
  const used = new Set<string>();
  const rows: LedgerRow[] = [];
  for (const p of pier) {
    const tx = (p.pg_tid ? byTid.get(p.pg_tid) : undefined) ?? byMoid.get(p.imp_uid);
    const differences: string[] = [];
    if (tx) {
      used.add(tx.tid);
      if (tx.amount !== p.amount) differences.push('amount');
      if (tx.status !== p.status) differences.push('status');
      if (tx.cancelledAmount !== p.cancel_amount) differences.push('cancel_amount');
      if (p.pg_tid && tx.tid !== p.pg_tid) differences.push('tid');
    } else if (p.status !== 'failed') {
      differences.push('missing_at_pg');
    }
    rows.push({
      impUid: p.imp_uid,
      merchantUid: p.merchant_uid,
      mid: p.pg_id,
      tid: p.pg_tid ?? tx?.tid ?? null,
      pier: { status: p.status, amount: p.amount, cancelAmount: p.cancel_amount },
      pg: tx ? { status: tx.status, amount: tx.amount, cancelledAmount: tx.cancelledAmount } : null,
      differences,
    });
  }
  for (const tx of pg) {
    if (used.has(tx.tid)) continue;
    rows.push({
      impUid: null,
      merchantUid: null,
      mid: tx.mid,
      tid: tx.tid,
      pier: null,
      pg: { status: tx.status, amount: tx.amount, cancelledAmount: tx.cancelledAmount },
      differences: tx.status === 'failed' ? [] : ['missing_at_pier'],
    });
  }
  return rows;
}

/**
 * One merchant's reconciliation view against the simulators of its PGs (each one's `ledger` tool,
 * lib/simulator-tools.ts): the latest `limit` payments through those PGs, and the simulators'
 * transactions of the same accounts. Simulator records that belong to another Pier merchant (their
 * moid is that merchant's imp_uid) are left out. `without`: the merchant's PGs whose simulator is
 * not in this Pier or keeps no ledger it shows, by label, so the console says so.
 */
export async function merchantLedger(deps: Deps, merchantId: string, tools: readonly PgSimulatorTools[], limit = 100) {
  const channels = await listChannels(deps, merchantId);
  const withLedger = tools.filter((t) => t.ledger);
  const providers = withLedger.map((t) => t.provider);
  const without = [...new Set(channels.map((c) => c.provider).filter((p) => !providers.includes(p)))].map((p) => deps.connectors.label(p));
  const accounts = withLedger.flatMap((t) => [...new Set(channels.filter((c) => c.provider === t.provider).map((c) => c.mid))].map((mid) => ({ tool: t, mid })));
  const mids = accounts.map((a) => a.mid);
  const { db } = deps.store;
  const pier = providers.length === 0 ? [] : await db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).where('pg_provider', 'in', providers).orderBy('started_at', 'desc').limit(limit).execute();
  const oldest = pier.length === limit ? pier[pier.length - 1].started_at : 0;
  const txs: LedgerTx[] = [];
  for (const { tool, mid } of accounts) txs.push(...(await tool.ledger!(mid)));
  const mine = new Set(pier.map((p) => p.imp_uid));
  const unknown = txs.filter((t) => !mine.has(t.moid)).map((t) => t.moid);
  const others = new Set<string>();
  for (let i = 0; i < unknown.length; i += 500) {
    const found = await db.selectFrom('payments').select(['imp_uid', 'merchant_id', 'started_at']).where('imp_uid', 'in', unknown.slice(i, i + 500)).execute();
    // other merchants' records, and this merchant's records older than the window shown
    for (const f of found) if (f.merchant_id !== merchantId || f.started_at < oldest || !mine.has(f.imp_uid)) others.add(f.imp_uid);
  }
  const relevant = txs.filter((t) => !others.has(t.moid) && (mine.has(t.moid) || t.createdAt / 1000 >= oldest));
  return { mids, rows: compareLedger(pier, relevant), without };
}
