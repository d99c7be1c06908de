/**
 * bin/compiled.js: the CLI and `npm start` run from a bundle of src/ made on first use (decision
 * 0040). A bundle that outlived a source change would run old code, so a changed file must make a
 * new one; each module must keep its own import.meta.url (Pier finds its assets from it); and the
 * real CLI and server must really run from the bundle, not fall back to tsx without saying so.
 */
import { execFile, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { envWithoutPier, listeningPort, PIER_BANNER, startChild } from './child-process.js';
import { importCompiled } from '../bin/compiled.js';

const ROOT = resolve(import.meta.dirname, '..');
const project = mkdtempSync(join(tmpdir(), 'pier-bundle-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('the CLI bundle (bin/compiled.js)', () => {
  it('is made again when a file under src/ changes, and each module keeps its own import.meta.url', async () => {
    mkdirSync(join(project, 'src', 'cli'), { recursive: true });
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(join(ROOT, 'node_modules', 'esbuild'), join(project, 'node_modules', 'esbuild'));
    writeFileSync(join(project, 'src', 'cli', 'index.ts'), "export { fail, message, messageUrl } from '../words/message.js';\nexport const indexUrl: string = import.meta.url;\n");
    mkdirSync(join(project, 'src', 'words'));
    const message = join(project, 'src', 'words', 'message.ts');
    writeFileSync(message, "export const message = 'one';\nexport const messageUrl: string = import.meta.url;\nexport function fail(): never {\n  throw new Error('from the source');\n}\n");

    const first = await importCompiled('cli/index.ts', project);
    expect(first.message).toBe('one');
    expect(first.indexUrl).toBe(pathToFileURL(join(project, 'src', 'cli', 'index.ts')).href);
    expect(first.messageUrl).toBe(pathToFileURL(message).href);
    // a stack trace names the source file and line, as under tsx
    // (as a path in Node, as a file URL under vitest; not the source's path appended to the cache's)
    const frame = new RegExp(`\\((file://)?${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:\\d+\\)`);
    expect(() => first.fail()).toThrow(expect.objectContaining({ stack: expect.stringMatching(frame) }));
    const cache = join(project, 'node_modules', '.cache', 'pier');
    const built = readdirSync(cache);
    expect(built).toHaveLength(1);

    // the same size: only the file's time tells it changed
    writeFileSync(message, "export const message = 'two';\nexport const messageUrl: string = import.meta.url;\nexport function fail(): never {\n  throw new Error('from the source');\n}\n");
    const second = await importCompiled('cli/index.ts', project);
    expect(second.message).toBe('two');
    const rebuilt = readdirSync(cache);
    expect(rebuilt).toHaveLength(1);
    expect(rebuilt[0]).not.toBe(built[0]);

    // unchanged sources: the same bundle, not a new one
    await importCompiled('cli/index.ts', project);
    expect(readdirSync(cache)).toEqual(rebuilt);
  });

  it("removes what a build killed between its write and its rename left aside, and no live build's", async () => {
    const cache = join(project, 'node_modules', '.cache', 'pier');
    const [current] = readdirSync(cache);
    const dead = spawnSync(process.execPath, ['-e', '']).pid;
    const killed = `${current}.${dead}.partial`;
    const building = `${current}.${process.pid}.partial`;
    writeFileSync(join(cache, killed), 'half a bundle');
    writeFileSync(join(cache, building), 'half a bundle');
    writeFileSync(join(project, 'src', 'words', 'message.ts'), "export const message = 'three';\nexport const messageUrl = '';\nexport function fail(): never {\n  throw new Error('x');\n}\n");
    expect((await importCompiled('cli/index.ts', project)).message).toBe('three');
    const left = readdirSync(cache);
    expect(left).toContain(building);
    expect(left).not.toContain(killed);
    expect(left.filter((f) => f.endsWith('.mjs'))).toHaveLength(1);
  });

  it('is what bin/pier.js runs', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((done) =>
      execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), '--help'], { cwd: ROOT, env: { ...process.env, PIER_DEBUG: '1' }, timeout: 60_000 }, (err, stdout, stderr) =>
        done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr }),
      ),
    );
    expect(code).toBe(0);
    expect(stdout).toContain('Usage: pier');
    expect(stderr).not.toContain('running from source');
  });
});

describe('npm start (bin/start.js)', () => {
  it('runs the server from the bundle, PIER_WORKERS workers included, with its web assets and the SDK, and stops on SIGTERM', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'pier-start-'));
    // port 0 (its simulators' too): Pier binds ports nobody can take first and names its address in the banner
    const env = { ...envWithoutPier(), PIER_DATA_DIR: dataDir, PORT: '0', PIER_WORKERS: '2', LOG_LEVEL: 'warn', PIER_DEBUG: '1' };
    const pier = startChild('npm start', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env });
    // on a failure, what the server said and where the time went (a timeout alone tells neither)
    const started = Date.now();
    const phases: string[] = [];
    const phase = (name: string) => phases.push(`${name} at ${Date.now() - started} ms`);
    const explain = () => `phases: ${phases.join(', ') || 'none'}\n--- stdout ---\n${pier.stdout()}\n--- stderr ---\n${pier.stderr()}`;
    try {
      // a server that stops before its banner ends the wait at once (ChildExited, with its stderr)
      const banner = await pier.waitFor(PIER_BANNER, 180_000);
      expect(banner[0]).toMatch(/Pier is running \(sandbox/);
      expect(pier.running(), explain()).toBe(true);
      phase('banner');
      expect(pier.stdout()).toContain('2 workers');
      const base = `http://127.0.0.1:${listeningPort(banner)}`;
      expect(await (await fetch(`${base}/health`)).json()).toMatchObject({ status: 'ok' });
      // files found from their module's own location: the console's assets and the SDK esbuild makes from sdk/
      const css = await fetch(`${base}/console/assets/console.css`);
      expect(css.status).toBe(200);
      const sdk = await fetch(`${base}/v1/iamport.js`);
      expect(sdk.status).toBe(200);
      expect(await sdk.text()).toContain('request_pay');
      expect(pier.stderr()).not.toContain('running from source');
      phase('answered');
    } finally {
      if (pier.running()) {
        pier.process.kill('SIGTERM');
        // nothing is in flight, so a worker stops at once (its bound, decision 0106, is up to 75 s); past a minute, kill it and say what happened
        const exit = await Promise.race([pier.exited, new Promise<'hung'>((done) => setTimeout(() => done('hung'), 60_000).unref())]);
        if (exit === 'hung') pier.process.kill('SIGKILL');
        phase('exited');
        rmSync(dataDir, { recursive: true, force: true });
        expect(exit === 'hung' ? exit : exit.code, explain()).toBe(0);
      } else rmSync(dataDir, { recursive: true, force: true });
    }
  }, 600_000);
});
