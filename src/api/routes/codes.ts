import Type from 'typebox';
import type { PierApp } from '../app.js';
import { BANK_CODES, CARD_CODES, type StandardCode } from '../../domain/codes.js';
import { PierError, ok } from '../errors.js';

/** GET /cards, /cards/{code}, /banks, /banks/{code} — KFTC standard codes. */
export default function route(app: PierApp) {
  const serve = (path: string, param: string, list: StandardCode[], what: string) => {
    app.get(path, { schema: { tags: ['codes'], summary: `${what} codes` } }, async () => ok(list));
    app.get(
      `${path}/:${param}`,
      { schema: { tags: ['codes'], summary: `One ${what} code`, params: Type.Object({ [param]: Type.String({ maxLength: 10 }) }) } },
      async (req) => {
        const code = (req.params as Record<string, string>)[param];
        const hit = list.find((c) => c.code === code);
        if (!hit) throw new PierError('not_found', `존재하지 않는 ${what === 'card' ? '카드사' : '은행'} 코드입니다: ${code}`);
        return ok(hit);
      },
    );
  };
  serve('/cards', 'card_standard_code', CARD_CODES, 'card');
  serve('/banks', 'bank_standard_code', BANK_CODES, 'bank');
}
