/**
 * The suite's mechanism for servers it starts on a port (child-process.ts, child-pier.ts): a wait
 * for a child's banner ends when the child exits, with its stderr; a start whose port another
 * process took before it bound it is made again on a new port (three starts at most), and no other
 * failure is. The children here are tiny `node -e` servers, and one real Pier (childPier) whose
 * restart finds its port taken.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { childPier } from './child-pier.js';
import { ChildExited, onFreshPort, PORT_TAKEN_ATTEMPTS, startChild, type Child } from './child-process.js';
import { freshDatabase } from './harness.js';

/** A server on PORT that prints `listening on <port>` once it listens (and dies of EADDRINUSE when the port is taken). */
const TINY_SERVER = "require('node:http').createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1', function () { console.log('listening on ' + this.address().port) })";

const started: Child[] = [];
function tinyServer(port: number): Child {
  const c = startChild('tiny server', ['-e', TINY_SERVER], { cwd: process.cwd(), env: { ...process.env, PORT: String(port) } });
  started.push(c);
  return c;
}

/** A port this test holds, so that a child given it finds it taken. */
async function holdPort(): Promise<{ port: number; server: Server }> {
  const server = createServer();
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { port: (server.address() as { port: number }).port, server };
}
const release = (s: Server) => new Promise<void>((r) => s.close(() => r()));

afterEach(async () => {
  for (const c of started.splice(0)) {
    if (c.running()) c.process.kill('SIGKILL');
    await c.ended;
  }
});

describe('startChild(…).waitFor', () => {
  it('ends the wait as soon as the child exits before its banner, with its exit and stderr', async () => {
    const c = startChild('a failing start', ['-e', "process.stderr.write('pier: cannot start: the disk is full\\n'); process.exit(3)"], { cwd: process.cwd(), env: process.env });
    started.push(c);
    // the wait's own bound is far beyond the test's: only the exit can end it in time
    const err = await c.waitFor(/never printed/, 3_600_000).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ChildExited);
    expect(err).toMatchObject({ exit: { code: 3, signal: null }, stderr: 'pier: cannot start: the disk is full\n' });
    expect((err as Error).message).toContain('pier: cannot start: the disk is full');
  }, 60_000);

  it('resolves with the match once the child prints it, and keeps reading what it writes', async () => {
    const c = tinyServer(0);
    const m = await c.waitFor(/listening on (\d+)/);
    expect(c.running()).toBe(true);
    expect(await (await fetch(`http://127.0.0.1:${m[1]}/`)).text()).toBe('ok');
  });
});

describe('onFreshPort', () => {
  it('starts again on a new port when the port was taken before the child bound it', async () => {
    const held = await holdPort();
    try {
      const ports: number[] = [];
      const { port, child } = await onFreshPort(
        async (p) => {
          ports.push(p);
          const c = tinyServer(p);
          await c.waitFor(/listening on/);
          return { port: p, child: c };
        },
        { first: held.port },
      );
      expect(ports).toHaveLength(2);
      expect(ports[0]).toBe(held.port);
      expect(port).toBe(ports[1]);
      expect(port).not.toBe(held.port);
      expect(child.running()).toBe(true);
      expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toBe('ok');
    } finally {
      await release(held.server);
    }
  });

  it(`gives up after ${PORT_TAKEN_ATTEMPTS} starts that each found their port taken, with the last one's EADDRINUSE`, async () => {
    const held = await holdPort();
    try {
      let starts = 0;
      const err = await onFreshPort(async () => {
        starts++;
        await tinyServer(held.port).waitFor(/listening on/); // every start finds its port taken
      }).catch((e: unknown) => e);
      expect(starts).toBe(PORT_TAKEN_ATTEMPTS);
      expect(err).toBeInstanceOf(ChildExited);
      expect((err as ChildExited).stderr).toContain('EADDRINUSE');
    } finally {
      await release(held.server);
    }
  });

  it('does not start again for any other failure', async () => {
    let starts = 0;
    const err = await onFreshPort(async () => {
      starts++;
      const c = startChild('a failing start', ['-e', "process.stderr.write('pier: configuration error: PORT\\n'); process.exit(78)"], { cwd: process.cwd(), env: process.env });
      started.push(c);
      await c.waitFor(/listening on/);
    }).catch((e: unknown) => e);
    expect(starts).toBe(1);
    expect(err).toMatchObject({ exit: { code: 78 }, stderr: 'pier: configuration error: PORT\n' });
  });
});

describe('childPier', () => {
  let simulator: FastifyInstance | undefined;
  let simulatorUrl = '';
  let db: Awaited<ReturnType<typeof freshDatabase>> | undefined;
  let dataDir = '';
  const pier = childPier(() => ({ databaseUrl: db!.url, dataDir, simulatorUrl }));
  afterAll(async () => {
    await pier.kill('SIGKILL');
    await simulator?.close();
    await db?.drop();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });

  it('restarts on the port it had, and on a new one when another process took that port meanwhile', async () => {
    simulator = createTpaySimulator({ dbFile: ':memory:' });
    simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
    db = await freshDatabase();
    dataDir = mkdtempSync(join(tmpdir(), 'pier-child-'));

    await pier.start();
    const first = pier.url();
    expect((await fetch(`${first}/health`)).status).toBe(200);
    await pier.kill('SIGKILL');
    await pier.start();
    expect(pier.url()).toBe(first);
    expect((await fetch(`${first}/health`)).status).toBe(200);

    // killed again, and its port taken before it is back
    await pier.kill('SIGKILL');
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(Number(new URL(first).port), '127.0.0.1', r));
    try {
      await pier.start();
      expect(pier.url()).not.toBe(first);
      const health = await fetch(`${pier.url()}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok' });
    } finally {
      await release(holder);
    }
  }, 300_000);
});
