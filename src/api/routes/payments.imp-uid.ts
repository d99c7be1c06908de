import Type from 'typebox';
import type { PierApp } from '../app.js';
import { getPayment } from '../../core/payments/queries.js';
import { ok } from '../errors.js';
import { ImpUid } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

/** GET /payments/{imp_uid} — one payment; 404 `존재하지 않는 결제정보입니다.` when unknown or another merchant's. */
export default function route(app: PierApp) {
  app.get(
    '/payments/:imp_uid',
    {
      schema: {
        tags: ['payments'],
        summary: 'Get a payment',
        params: Type.Object({ imp_uid: ImpUid }),
        querystring: Type.Object({ include_sandbox: Type.Optional(Type.Boolean()), extension: Type.Optional(Type.Boolean()) }),
      },
    },
    // include_sandbox is accepted for compatibility; sandbox payments are always returned (Pier's choice, docs/decisions)
    async (req) => ok(await getPayment(req.deps, merchantOf(req), req.params.imp_uid)),
  );
}
