import type { PaymentsTable } from '../../store/types.js';
import { listChannels } from '../merchants/channels.js';
import type { Deps } from '../deps.js';

/** The part of a simulator ledger transaction the comparison reads (GET /__ledger). */
export interface LedgerTx {
  tid: string;
  mid: string;
  moid: string;
  amount: number;
  cancelledAmount: number;
  status: string;
  createdAt: number;
  payMethod?: string;
}

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
 * One merchant's reconciliation view against the tPay simulator: the latest `limit` payments of
 * its MIDs, and the simulator's transactions for the same MIDs. Simulator records that belong to
 * another Pier merchant (their moid is that merchant's imp_uid) are left out.
 */
export async function merchantLedger(deps: Deps, merchantId: string, simulatorUrl: string, limit = 100) {
  const channels = await listChannels(deps, merchantId);
  const mids = [...new Set(channels.filter((c) => c.provider === 'jtnet').map((c) => c.mid))];
  const { db } = deps.store;
  const pier = await db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).where('pg_provider', '=', 'jtnet').orderBy('started_at', 'desc').limit(limit).execute();
  const oldest = pier.length === limit ? pier[pier.length - 1].started_at : 0;
  const txs: LedgerTx[] = [];
  for (const mid of mids) {
    const res = await fetch(`${simulatorUrl}/__ledger?mid=${encodeURIComponent(mid)}`, { signal: AbortSignal.timeout(5000) });
    if (!res.ok) throw new Error(`simulator ledger answered ${res.status}`);
    const snap = (await res.json()) as { approvals: LedgerTx[]; declines: LedgerTx[] };
    txs.push(...snap.approvals, ...snap.declines);
  }
  const mine = new Set(pier.map((p) => p.imp_uid));
  const unknown = txs.filter((t) => !mine.has(t.moid)).map((t) => t.moid);
  const others = new Set<string>();
  for (let i = 0; i < unknown.length; i += 500) {
    const found = await db.selectFrom('payments').select(['imp_uid', 'merchant_id', 'started_at']).where('imp_uid', 'in', unknown.slice(i, i + 500)).execute();
    // other merchants' records, and this merchant's records older than the window shown
    for (const f of found) if (f.merchant_id !== merchantId || f.started_at < oldest || !mine.has(f.imp_uid)) others.add(f.imp_uid);
  }
  const relevant = txs.filter((t) => !others.has(t.moid) && (mine.has(t.moid) || t.createdAt / 1000 >= oldest));
  return { mids, rows: compareLedger(pier, relevant) };
}
