import type { FastifyRequest } from 'fastify';
import Type from 'typebox';
import type { PierApp } from '../app.js';
import type { Deps } from '../../core/deps.js';
import { PierError } from '../errors.js';
import { merchantOf } from '../request-helpers.js';

/** V1's answer for an imp_uid with no certification result. */
export const CERTIFICATION_NOT_FOUND = '인증결과가 존재하지 않습니다.';

/**
 * GET, DELETE /certifications/{imp_uid}. Pier has no identity-verification provider, so no
 * certification ever exists: every lookup answers V1's 404 for an unknown imp_uid, after the token
 * check. Merchant code that looks a certification up therefore sees "not found", not a server error.
 */
export default function route(app: PierApp, _deps: Deps) {
  const schema = { tags: ['certifications'], params: Type.Object({ imp_uid: Type.String({ maxLength: 100 }) }) };
  const notFound = async (req: FastifyRequest) => {
    merchantOf(req);
    throw new PierError('not_found', CERTIFICATION_NOT_FOUND, 'Pier has no identity-verification provider');
  };
  app.get('/certifications/:imp_uid', { schema: { ...schema, summary: 'Look up a certification (none exist in Pier)' } }, notFound);
  app.delete('/certifications/:imp_uid', { schema: { ...schema, summary: 'Delete a certification (none exist in Pier)' } }, notFound);
}
