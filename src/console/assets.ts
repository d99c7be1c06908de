import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

const DIR = new URL('../../web/console/', import.meta.url);
const TYPES: Record<string, string> = { css: 'text/css; charset=utf-8', js: 'text/javascript; charset=utf-8', svg: 'image/svg+xml' };
const FILES = ['console.css', 'console.js'];

/** The console's static files (web/console), read once and served from memory. */
export function registerAssets(app: FastifyInstance) {
  const cache = new Map(FILES.map((f) => [f, readFileSync(new URL(f, DIR))]));
  app.get('/assets/:file', { config: { consoleAnon: true } }, async (req, reply) => {
    const { file } = req.params as { file: string };
    const body = cache.get(file);
    if (!body) return reply.callNotFound();
    return reply
      .header('cache-control', 'public, max-age=300')
      .type(TYPES[file.split('.').pop() ?? ''] ?? 'application/octet-stream')
      .send(body);
  });
}
