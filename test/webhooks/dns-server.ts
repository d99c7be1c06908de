/**
 * A real DNS server on 127.0.0.1 (UDP) for webhook tests: it answers A queries for the names it
 * is given, answers "no such name" (NXDOMAIN) for other names, and never answers (drops the query,
 * as a black-hole nameserver or a lame delegation does) for names under a swallowed zone. It keeps
 * the names it was asked about, so a test can tell which lookups reached DNS.
 */
import { createSocket } from 'node:dgram';

export interface TestDnsServer {
  /** `127.0.0.1:port`, for `Resolver.setServers` */
  address: string;
  /** every name asked about (lower case, no trailing dot), in order, one entry per query */
  asked: string[];
  close(): Promise<void>;
}

export async function startDnsServer(o: { answers: Record<string, string>; swallow: string }): Promise<TestDnsServer> {
  const socket = createSocket('udp4');
  const asked: string[] = [];
  socket.on('message', (query, from) => {
    // header (12 bytes), then the question: labels, a zero byte, QTYPE and QCLASS
    let at = 12;
    const labels: string[] = [];
    while (at < query.length && query[at] !== 0) {
      labels.push(query.subarray(at + 1, at + 1 + query[at]).toString('latin1'));
      at += 1 + query[at];
    }
    const questionEnd = at + 5;
    const qtype = query.readUInt16BE(at + 1);
    const name = labels.join('.').toLowerCase();
    asked.push(name);
    if (name === o.swallow || name.endsWith(`.${o.swallow}`)) return;
    const known = o.answers[name];
    const answer = known && qtype === 1 ? answerA(known) : Buffer.alloc(0);
    const header = Buffer.alloc(12);
    query.copy(header, 0, 0, 2);
    // a response (QR), recursion desired and available; NXDOMAIN (3) for an unknown name
    header.writeUInt16BE(0x8180 | (known ? 0 : 3), 2);
    header.writeUInt16BE(1, 4);
    header.writeUInt16BE(answer.length ? 1 : 0, 6);
    socket.send(Buffer.concat([header, query.subarray(12, questionEnd), answer]), from.port, from.address);
  });
  await new Promise<void>((r) => socket.bind(0, '127.0.0.1', r));
  return {
    address: `127.0.0.1:${socket.address().port}`,
    asked,
    close: () => new Promise<void>((r) => socket.close(() => r())),
  };
}

/** one A record for the question's name (a pointer to offset 12), TTL 60 s */
function answerA(ipv4: string): Buffer {
  const rr = Buffer.alloc(16);
  rr.writeUInt16BE(0xc00c, 0);
  rr.writeUInt16BE(1, 2);
  rr.writeUInt16BE(1, 4);
  rr.writeUInt32BE(60, 6);
  rr.writeUInt16BE(4, 10);
  ipv4.split('.').forEach((octet, i) => rr.writeUInt8(Number(octet), 12 + i));
  return rr;
}
