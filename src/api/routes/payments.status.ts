import Type from 'typebox';
import type { PierApp } from '../app.js';
import { listPaymentsByStatus, type Sorting } from '../../core/payments/queries.js';
import { unixSeconds } from '../../lib/clock.js';
import type { PaymentStatus } from '../../domain/payment.js';
import { PierError, ok } from '../errors.js';
import { Paging, SortingParam } from '../schemas.js';
import { merchantOf } from '../request-helpers.js';

const NINETY_DAYS = 90 * 24 * 3600;
/** UNIX seconds up to 9999-12-31: larger values overflow PostgreSQL's BIGINT comparison */
const UnixTime = Type.Integer({ minimum: 0, maximum: 253_402_300_799 });
const STATUSES = ['all', 'ready', 'paid', 'cancelled', 'failed'];
/** V1's text for it is unpublished; Pier's words (docs/decisions/0049) */
const PAGE_BEYOND_DATA = '데이터 범위를 넘어선 page입니다.';

/** GET /payments/status/{payment_status} — paged list; `from`/`to` in UNIX seconds, window ≤ 90 days. */
export default function route(app: PierApp) {
  app.get(
    '/payments/status/:payment_status',
    {
      schema: {
        tags: ['payments'],
        summary: 'List payments by status',
        // any length: an unknown status of any size gets V1's one message, not a schema-length error
        params: Type.Object({ payment_status: Type.String() }),
        querystring: Type.Object({ ...Paging, from: Type.Optional(UnixTime), to: Type.Optional(UnixTime), sorting: SortingParam }),
      },
    },
    async (req) => {
      const status = req.params.payment_status;
      if (!STATUSES.includes(status)) throw new PierError('invalid_parameter', '지원되지 않는 상태값입니다.');
      const to = req.query.to ?? unixSeconds(req.deps.clock);
      const from = req.query.from ?? to - NINETY_DAYS;
      if (from > to) throw new PierError('invalid_parameter', 'from은 to보다 이후일 수 없습니다.');
      if (to - from > NINETY_DAYS) throw new PierError('invalid_parameter', 'from ~ to 조회 기간은 최대 90일입니다.');
      const page = { page: req.query.page ?? 1, limit: req.query.limit ?? 20 };
      const list = await listPaymentsByStatus(req.deps, merchantOf(req), status as PaymentStatus | 'all', { from, to }, page, req.query.sorting);
      // V1 answers 400 for "데이터 범위를 넘어선 page" (its schema); the first page of nothing is still a page (docs/decisions/0049)
      if (page.page > 1 && (page.page - 1) * page.limit >= list.total) throw new PierError('invalid_parameter', PAGE_BEYOND_DATA);
      return ok(list);
    },
  );
}
