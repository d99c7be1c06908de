/**
 * V1 `/vbanks/{imp_uid}` (spec/api-v1.md §7.2-7.3) on virtual accounts issued through the payment
 * window. Choices where V1 is silent: docs/decisions/0006-virtual-accounts.md.
 */
import { PierError } from '../errors.js';
import { ConnectorError, type RefundResult } from '../../connectors/types.js';
import { unixSeconds } from '../../lib/clock.js';
import type { PaymentsTable } from '../../store/types.js';
import { channelById } from '../merchants/channels.js';
import type { Deps } from '../deps.js';
import { loadV1Payment } from '../payments/render.js';
import { releasingMerchantUid } from '../payments/merchant-uid-handback.js';
import { recordVbankDeposit } from './deposit.js';

export const VBANK_NOT_FOUND = '존재하지 않는 결제정보입니다.';
export const VBANK_REVOKE_REASON = '가상계좌 발급 취소 (virtual account revoked)';

/**
 * The merchant's unpaid virtual account `imp_uid`: 404 unknown (or another merchant's), 400 when it
 * is not a virtual account or no longer awaits its deposit (V1's answers for PUT and DELETE).
 */
export async function findOpenVbank(deps: Deps, merchantId: string, impUid: string): Promise<PaymentsTable> {
  const p = await deps.store.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!p) throw new PierError('not_found', VBANK_NOT_FOUND);
  if (p.pay_method !== 'vbank') throw new PierError('invalid_parameter', `가상계좌 결제건이 아닙니다. (pay_method: ${p.pay_method})`);
  if (p.status !== 'ready' || p.pg_state !== 'done' || !p.vbank_num) {
    throw new PierError('invalid_parameter', `입금대기(ready) 상태의 가상계좌가 아닙니다. (status: ${p.status})`);
  }
  return p;
}

/**
 * DELETE /vbanks/{imp_uid}: closes an unpaid virtual account at the PG, then records it in Pier as
 * `cancelled` (cancel_amount = amount, nothing refunded, no cancel_history entry), with its
 * merchant_uid lock released. No webhook (V1 lists none for a revoke).
 *
 * The PG serialises a revoke against a deposit: once it has closed the account a deposit is refused,
 * and once the buyer has paid it refuses the revoke. A revoke whose answer was lost (timeout) is
 * found by asking the PG when the caller tries again.
 */
export async function revokeVbank(deps: Deps, merchantId: string, impUid: string, reason = VBANK_REVOKE_REASON) {
  const p = await findOpenVbank(deps, merchantId, impUid);
  const channel = p.channel_id ? await channelById(deps, p.channel_id) : undefined;
  if (!channel) throw new PierError('refused', '결제한 PG 설정이 삭제되어 취소할 수 없습니다.');
  const revoke = channel.connector.revokeVbank;
  if (!revoke) throw new PierError('not_supported', `${p.pg_provider}는 가상계좌 발급 취소를 지원하지 않습니다.`, 'revoking virtual accounts is not supported by this PG');

  let result: RefundResult;
  try {
    result = await revoke.call(channel.connector, channel.credentials, { pgTid: p.pg_tid ?? '', moid: p.imp_uid, amount: Number(p.amount), reason });
  } catch (err) {
    if (!(err instanceof ConnectorError)) throw err;
    throw new PierError(
      'pg_unavailable',
      err.inDoubt
        ? 'PG사 응답을 받지 못했습니다. 가상계좌가 닫혔는지 확인할 수 없으니 다시 시도해 주세요. (PG outcome unknown: try again)'
        : `PG사와 통신하지 못해 가상계좌를 취소하지 못했습니다. (${err.kind})`,
    );
  }
  let closedAt: number;
  if (result.outcome === 'refunded') {
    closedAt = result.cancelledAt;
  } else {
    // Refused: already closed by an earlier revoke whose answer was lost, or paid into (the PG
    // refuses to close an account holding a deposit)? The PG knows.
    const found = await channel.connector
      .inquire(channel.credentials, { moid: p.imp_uid, pgTid: p.pg_tid, aroundMs: Number(p.started_at) * 1000 })
      .catch(() => ({ found: false as const }));
    if (found.found && found.state === 'paid' && (!p.pg_tid || found.pgTid === p.pg_tid)) {
      // The buyer paid and the PG's notice has not reached Pier (lost, or still on its way): the PG
      // has just confirmed the deposit, so it is recorded now (paid, `paid` webhook) rather than at
      // the next deposit check, up to a day later, with the merchant seeing `ready` meanwhile and
      // free to take payment for the order another way (decision 0103).
      const recorded = await recordVbankDeposit(deps, channel, { moid: p.imp_uid, pgTid: found.pgTid, amount: found.amount, depositedAt: found.paidAt, depositorName: null });
      if (recorded.ok) {
        deps.logger.warn({ imp_uid: p.imp_uid }, 'revoke refused by the PG: the account holds a deposit whose notice had not reached Pier; recorded');
        throw new PierError('invalid_parameter', '입금대기(ready) 상태의 가상계좌가 아닙니다. (status: paid) PG사에서 입금이 확인되어 결제완료로 기록했습니다. (the PG holds a deposit: recorded paid)');
      }
      deps.logger.error({ imp_uid: p.imp_uid, reason: recorded.reason, message: recorded.message }, 'revoke refused by the PG: the account holds a deposit Pier cannot record; left for an operator');
    }
    if (!found.found || found.state !== 'cancelled' || found.cancelledAmount < Number(p.amount)) {
      throw new PierError('refused', `가상계좌 발급 취소에 실패하였습니다. [${result.code}]${result.message}`);
    }
    closedAt = 0;
  }

  const now = unixSeconds(deps.clock);
  // the merchant_uid it frees goes to the order's payment paid without it, if any (decision 0073)
  const res = await releasingMerchantUid(deps.store, p.imp_uid, now, (trx) =>
    trx
      .updateTable('payments')
      .set({
        status: 'cancelled',
        cancel_amount: Number(p.amount),
        cancel_reason: reason,
        cancelled_at: closedAt || now,
        merchant_uid_lock: null,
        updated_at: now,
      })
      .where('imp_uid', '=', p.imp_uid)
      .where('status', '=', 'ready')
      .executeTakeFirst(),
  );
  if (Number(res.numUpdatedRows) !== 1) deps.logger.warn({ imp_uid: p.imp_uid }, 'virtual account changed while it was being revoked');
  else deps.logger.info({ imp_uid: p.imp_uid }, 'virtual account revoked');
  return (await loadV1Payment(deps.store.db, p.imp_uid))!;
}
