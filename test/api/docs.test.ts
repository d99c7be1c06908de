import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1_ENDPOINTS } from '../../src/api/v1-endpoints.js';
import { startTestPier, type TestPier } from '../harness.js';

let pier: TestPier;
beforeAll(async () => {
  pier = await startTestPier();
});
afterAll(() => pier.close());

describe('API documentation', () => {
  it('serves an OpenAPI document, without a token, listing every V1 path Pier supports with its schema', async () => {
    const res = await pier.call('GET', '/openapi.json');
    expect(res.status).toBe(200);
    expect(res.body.openapi).toBe('3.0.3');
    const documented = new Set(
      Object.entries(res.body.paths as Record<string, Record<string, unknown>>).flatMap(([path, ops]) => Object.keys(ops).map((m) => `${m.toUpperCase()} ${path}`)),
    );
    const served = V1_ENDPOINTS.filter((e) => e.support !== 'not yet').map((e) => `${e.method} ${e.path.startsWith('/payments/find') ? e.path.replace('/{payment_status}', '') : e.path}`);
    for (const endpoint of served) expect(documented, endpoint).toContain(endpoint);
    const onetime = res.body.paths['/subscribe/payments/onetime'].post;
    expect(onetime.requestBody.content['application/json'].schema.required).toEqual(expect.arrayContaining(['merchant_uid', 'amount', 'card_number', 'expiry']));
    expect(onetime.requestBody.content['application/json'].schema.properties.amount.type).toBe('integer');
  });

  it('serves the docs page without a token', async () => {
    const res = await pier.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('swagger');
  });
});
