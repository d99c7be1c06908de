import { connect } from 'node:net';

/**
 * Sends bytes as they are over a raw socket (no client-side HTTP library to fix them up) and parses
 * the first answer: status and body (chunked bodies decoded). Resolves when the answer is complete
 * or the server closes the connection.
 */
export function rawRequest(port: number, bytes: string | Buffer, o: { host?: string; timeoutMs?: number } = {}): Promise<{ status: number; headers: Record<string, string>; body: string }> {
  return new Promise((resolve, reject) => {
    const s = connect(port, o.host ?? '127.0.0.1');
    let buf = Buffer.alloc(0);
    let done = false;
    const finish = () => {
      if (done) return;
      const parsed = parse(buf);
      if (!parsed) return;
      done = true;
      s.destroy();
      resolve(parsed);
    };
    s.on('data', (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      finish();
    });
    s.on('error', (err) => {
      if (!done) {
        const parsed = parse(buf, true);
        if (parsed) {
          done = true;
          resolve(parsed);
        } else reject(err);
      }
    });
    s.on('close', () => {
      if (done) return;
      const parsed = parse(buf, true);
      done = true;
      if (parsed) resolve(parsed);
      else reject(new Error(`connection closed without an answer (got ${JSON.stringify(buf.toString('latin1').slice(0, 200))})`));
    });
    // a server still waiting for the rest of a request after this long is reported, not waited on
    const timer = setTimeout(() => {
      if (done) return;
      done = true;
      s.destroy();
      resolve({ status: 0, headers: {}, body: `no answer within ${o.timeoutMs ?? 3000} ms (got ${JSON.stringify(buf.toString('latin1').slice(0, 200))})` });
    }, o.timeoutMs ?? 3000);
    s.on('close', () => clearTimeout(timer));
    s.write(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  });
}

function parse(buf: Buffer, closed = false): { status: number; headers: Record<string, string>; body: string } | null {
  const text = buf.toString('latin1');
  const end = text.indexOf('\r\n\r\n');
  if (end < 0) return null;
  const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine)?.[1] ?? 0);
  const headers: Record<string, string> = {};
  for (const l of lines) {
    const i = l.indexOf(':');
    if (i > 0) headers[l.slice(0, i).trim().toLowerCase()] = l.slice(i + 1).trim();
  }
  const rest = buf.subarray(Buffer.byteLength(text.slice(0, end + 4), 'latin1'));
  if (headers['content-length'] !== undefined) {
    const n = Number(headers['content-length']);
    if (rest.length < n) return closed ? { status, headers, body: rest.toString('utf8') } : null;
    return { status, headers, body: rest.subarray(0, n).toString('utf8') };
  }
  if (/chunked/i.test(headers['transfer-encoding'] ?? '')) {
    let body = Buffer.alloc(0);
    let at = 0;
    for (;;) {
      const nl = rest.indexOf('\r\n', at);
      if (nl < 0) return closed ? { status, headers, body: body.toString('utf8') } : null;
      const size = parseInt(rest.subarray(at, nl).toString('latin1'), 16);
      if (size === 0) return { status, headers, body: body.toString('utf8') };
      if (rest.length < nl + 2 + size + 2) return closed ? { status, headers, body: body.toString('utf8') } : null;
      body = Buffer.concat([body, rest.subarray(nl + 2, nl + 2 + size)]);
      at = nl + 2 + size + 2;
    }
  }
  return closed ? { status, headers, body: rest.toString('utf8') } : null;
}
