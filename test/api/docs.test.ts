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

  it('documents the limits of a new merchant_uid and customer_uid (maxLength, and the bytes of UTF-8 in the description) and what a lookup takes (decisions 0062, 0068)', async () => {
    const res = await pier.call('GET', '/openapi.json');
    const body = (path: string, method = 'post') => res.body.paths[path][method].requestBody.content['application/json'].schema.properties;
    const param = (path: string, name: string, method = 'get') => res.body.paths[path][method].parameters.find((p: { name: string; in: string }) => p.name === name && p.in === 'path');
    for (const created of [body('/subscribe/payments/onetime').merchant_uid, body('/payments/prepare').merchant_uid, body('/subscribe/payments/schedule').schedules.items.properties.merchant_uid]) {
      expect(created).toMatchObject({ type: 'string', minLength: 1, maxLength: 40, 'x-maxUtf8Bytes': 40 });
      expect(created.description).toContain('at most 40 bytes of UTF-8');
    }
    const newKey = param('/subscribe/customers/{customer_uid}', 'customer_uid', 'post');
    expect(newKey.schema).toMatchObject({ type: 'string', minLength: 1, maxLength: 80, 'x-maxUtf8Bytes': 80 });
    expect(newKey.description).toContain('at most 80 bytes of UTF-8');
    // a lookup takes what an earlier Pier stored: up to 40 and 80 characters, no bytes rule
    const found = param('/payments/find/{merchant_uid}', 'merchant_uid');
    expect(found.schema).toMatchObject({ type: 'string', minLength: 1, maxLength: 40 });
    expect(found.schema['x-maxUtf8Bytes']).toBeUndefined();
    expect(param('/subscribe/customers/{customer_uid}', 'customer_uid').schema).toMatchObject({ maxLength: 80 });
    // OpenAPI 3.0 takes no keyword of Pier's own in a schema, only x- extensions
    expect(JSON.stringify(res.body)).not.toContain('"maxUtf8Bytes"');
  });

  it('serves the docs page without a token', async () => {
    const res = await pier.app.inject({ method: 'GET', url: '/docs/' });
    expect(res.statusCode).toBe(200);
    expect(res.headers['content-type']).toContain('text/html');
    expect(res.body).toContain('swagger');
  });
});
