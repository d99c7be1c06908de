/**
 * The HTTP ceiling: a bare Node HTTP server (no framework, no database) that reads the request body
 * and answers a fixed JSON body. BARE_BODY_FILE holds the body (a real Pier payment answer, so both
 * sides move the same bytes); BARE_PORT is the port.
 */
import { readFileSync } from 'node:fs';
import { createServer } from 'node:http';

const body = Buffer.from(process.env.BARE_BODY_FILE ? readFileSync(process.env.BARE_BODY_FILE, 'utf8') : '{"code":0,"message":null,"response":{}}');
const port = Number(process.env.BARE_PORT ?? 8099);

const server = createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': body.length });
    res.end(body);
  });
});
server.keepAliveTimeout = 72_000;
server.listen(port, '127.0.0.1');
process.once('SIGTERM', () => server.close(() => process.exit(0)));
