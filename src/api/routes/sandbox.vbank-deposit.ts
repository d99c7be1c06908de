import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import type { PgSimulatorTools } from '../../lib/simulator-tools.js';
import { sandboxVbankDeposit } from '../../core/virtual-accounts/deposit.js';
import { PierError, ok } from '../errors.js';
import { ImpUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/**
 * POST /pier/sandbox/vbank-deposit (not part of V1, sandbox mode only): the buyer's transfer into
 * one of the merchant's virtual accounts, made at the simulator of the payment's PG (its `deposit`
 * tool), which checks the amount and the deadline and notifies Pier. Answers the payment as Pier
 * recorded it, with the simulator's answer under `pg`; 501 naming the PG when its simulator is not
 * in this Pier or takes no deposits. The same as `pier sandbox deposit` and the console's sandbox tools.
 */
export default function route(app: PierApp, deps: Deps, opts: { simulatorTools?: readonly PgSimulatorTools[] }) {
  if (deps.mode !== 'sandbox') return;
  app.post(
    '/pier/sandbox/vbank-deposit',
    {
      schema: {
        tags: ['sandbox (Pier, non-V1)'],
        summary: "Deposit into a virtual account at its PG's simulator (amount defaults to the payment's)",
        body: Type.Object({
          imp_uid: ImpUid,
          amount: Type.Optional(Type.Integer({ minimum: 1, maximum: 100_000_000_000 })),
          depositor_name: Type.Optional(Type.String({ maxLength: 40 })),
        }),
      },
    },
    async (req) => {
      const r = await sandboxVbankDeposit(req.deps, opts.simulatorTools, {
        merchantId: merchantOf(req),
        impUid: req.body.imp_uid,
        amount: req.body.amount,
        depositorName: req.body.depositor_name ?? null,
      });
      if (!r.ok) throw new PierError('refused', `입금이 거절되었습니다: ${String(r.simulator.error ?? `HTTP ${r.simulatorStatus}`)}`);
      return ok({ ...r.payment, pg: r.simulator });
    },
  );
}
