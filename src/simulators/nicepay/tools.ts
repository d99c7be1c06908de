/**
 * The NICEPAY simulator's sandbox tools (lib/simulator-tools.ts), through its own control
 * endpoints: `GET /__ledger?clientId=`, `POST /__control/vbank/deposit` and `POST /__control/webhook`.
 * A deposit's webhook goes to the URL registered for the clientId (NICE's admin setting, which
 * Pier's sandbox registers: decision 0086), sent after the simulator answers: Pier's record follows it.
 */
import { getFromSimulator, postToSimulator, type SimulatorTx } from '../../lib/simulator-tools.js';
import type { SimPayment } from './ledger.js';

/** NICE's statuses in V1's words: a partial refund leaves the payment `paid`. */
const V1_STATUS: Record<SimPayment['status'], string> = { paid: 'paid', ready: 'ready', failed: 'failed', cancelled: 'cancelled', partialCancelled: 'paid' };

export const nicepaySimulatorTools = (url: string) => ({
  async ledger(clientId: string): Promise<SimulatorTx[]> {
    const dump = await getFromSimulator<{ payments: SimPayment[] }>(url, `/__ledger?clientId=${encodeURIComponent(clientId)}`);
    return dump.payments.map((p) => ({
      tid: p.tid,
      mid: p.clientId,
      moid: p.orderId,
      amount: p.amount,
      cancelledAmount: p.amount - p.balanceAmt,
      status: V1_STATUS[p.status] ?? p.status,
      createdAt: p.createdAt,
      payMethod: p.payMethod,
    }));
  },
  async deposit(d: { moid: string; mid: string; tid: string | null; amount: number }) {
    const answer = await postToSimulator(url, '/__control/vbank/deposit', { tid: d.tid ?? undefined, orderId: d.moid, clientId: d.mid, amount: d.amount });
    // a refusal in NICE's words (resultCode/resultMsg) named as the other tools name theirs
    if (answer.status >= 300 && answer.body.error === undefined && typeof answer.body.resultMsg === 'string') answer.body.error = `${String(answer.body.resultCode ?? '')} ${answer.body.resultMsg}`.trim();
    return answer;
  },
  // NICE's admin (개발정보 → 웹훅): the clientId's webhook URL
  registerNotifyUrl: (clientId: string, notifyUrl: string) => postToSimulator(url, '/__control/webhook', { clientId, url: notifyUrl }),
});
