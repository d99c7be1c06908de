/**
 * The tPay simulator's sandbox tools (lib/simulator-tools.ts), through its own control endpoints:
 * `GET /__ledger?mid=`, `POST /__control/vbank/deposit`, which notifies Pier before it answers, and
 * `POST /__control/notify-url`, where that notice goes.
 */
import { getFromSimulator, postToSimulator, type SimulatorTx } from '../../lib/simulator-tools.js';

export const tpaySimulatorTools = (url: string) => ({
  async ledger(mid: string): Promise<SimulatorTx[]> {
    // its statuses are V1's already (paid, ready, cancelled, failed)
    const snap = await getFromSimulator<{ approvals: SimulatorTx[]; declines: SimulatorTx[] }>(url, `/__ledger?mid=${encodeURIComponent(mid)}`);
    return [...snap.approvals, ...snap.declines];
  },
  deposit: (d: { moid: string; mid: string; tid: string | null; amount: number; depositorName: string | null }) =>
    postToSimulator(url, '/__control/vbank/deposit', { moid: d.moid, mid: d.mid, tid: d.tid ?? undefined, amount: d.amount, depositorName: d.depositorName || undefined }),
  // tPay's merchant admin: the MID's deposit notice URL (the window's form carries none)
  registerNotifyUrl: (mid: string, notifyUrl: string) => postToSimulator(url, '/__control/notify-url', { mid, url: notifyUrl }),
  renotifyHint: (answer: Record<string, unknown>) => `POST ${url}/__control/vbank/notify {"tid": "${String(answer.tid ?? '')}"}`,
});
