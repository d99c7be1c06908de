import Type, { type TSchema } from 'typebox';
import type { PierApp } from '../app.js';
import { getPayments, PAYMENT_NOT_FOUND } from '../../core/payments/queries.js';
import { PierError, ok } from '../errors.js';
import { asArray, merchantOf } from '../request-helpers.js';
import { StoredMerchantUidItem } from '../schemas.js';

const IdList = <T extends TSchema>(id: T) => Type.Optional(Type.Union([Type.Array(id, { maxItems: 100 }), id]));

/** GET /payments?imp_uid[]=&merchant_uid[]= — up to 100 ids; 207 when only some are found, 404 when none; empty entries are not ids. */
export default function route(app: PierApp) {
  app.get(
    '/payments',
    {
      schema: {
        tags: ['payments'],
        summary: 'Get several payments',
        querystring: Type.Object({ imp_uid: IdList(Type.String({ maxLength: 32 })), merchant_uid: IdList(StoredMerchantUidItem) }),
      },
    },
    async (req, reply) => {
      // An empty entry (`merchant_uid[]=`) is a field left blank, not an id: code written against V1
      // sends `imp_uid[]=imp_…&merchant_uid[]=` for one payment by imp_uid (decision 0074).
      const impUids = asArray(req.query.imp_uid).filter((id) => id !== '');
      const merchantUids = asArray(req.query.merchant_uid).filter((id) => id !== '');
      if (impUids.length + merchantUids.length === 0) throw new PierError('invalid_parameter', '필수 파라미터가 누락되었습니다: imp_uid[] 또는 merchant_uid[]');
      if (impUids.length + merchantUids.length > 100) throw new PierError('invalid_parameter', 'imp_uid[]와 merchant_uid[]는 합쳐서 최대 100개까지 조회할 수 있습니다.');
      const { payments, missing } = await getPayments(req.deps, merchantOf(req), impUids, merchantUids);
      if (payments.length === 0) throw new PierError('not_found', PAYMENT_NOT_FOUND);
      if (missing) reply.status(207);
      return ok(payments);
    },
  );
}
