/**
 * A slow PG: an HTTP proxy in front of the tPay simulator that holds every answer until
 * PROXY_DELAY_MS after the request arrived. The request is forwarded at once, so the simulator's own
 * work overlaps the wait, as a real PG's would. GET /__bench_stats reports how many requests were
 * held at the same time (the peak), which shows that the payments really were in flight together.
 *
 * Env: PROXY_PORT, PROXY_TARGET (e.g. http://127.0.0.1:8091), PROXY_DELAY_MS (default 300).
 */
import { createServer } from 'node:http';
import { Pool } from 'undici';

const port = Number(process.env.PROXY_PORT ?? 8098);
const target = process.env.PROXY_TARGET ?? 'http://127.0.0.1:8091';
const delayMs = Number(process.env.PROXY_DELAY_MS ?? 300);
const upstream = new Pool(target, { connections: 256, keepAliveTimeout: 10_000 });

let inFlight = 0;
let peakInFlight = 0;
let total = 0;
let failed = 0;

const server = createServer((req, res) => {
  if (req.url === '/__bench_stats') {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ inFlight, peakInFlight, total, failed, delayMs }));
    return;
  }
  if (req.url === '/__bench_stats/reset') {
    peakInFlight = inFlight;
    total = 0;
    failed = 0;
    res.end('{}');
    return;
  }
  const arrived = Date.now();
  inFlight++;
  total++;
  peakInFlight = Math.max(peakInFlight, inFlight);
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', async () => {
    let status = 502;
    let headers: Record<string, string> = { 'content-type': 'text/plain' };
    let body: Buffer = Buffer.from('proxy: upstream failed');
    try {
      const r = await upstream.request({
        method: req.method as 'POST',
        path: req.url ?? '/',
        headers: { 'content-type': req.headers['content-type'] ?? 'application/octet-stream' },
        body: Buffer.concat(chunks),
      });
      status = r.statusCode;
      body = Buffer.from(await r.body.arrayBuffer());
      headers = { 'content-type': String(r.headers['content-type'] ?? 'application/json') };
    } catch {
      failed++;
    }
    const wait = delayMs - (Date.now() - arrived);
    setTimeout(() => {
      inFlight--;
      res.writeHead(status, { ...headers, 'content-length': body.length });
      res.end(body);
    }, Math.max(0, wait));
  });
});
server.keepAliveTimeout = 10_000;
server.listen(port, '127.0.0.1', 4096);
process.once('SIGTERM', () => {
  server.close(() => upstream.close().then(() => process.exit(0)));
  setTimeout(() => process.exit(0), 2000).unref();
});
