/**
 * bin/compiled.js: the CLI runs from a bundle of src/ made on first use (decision 0040). A bundle
 * that outlived a source change would run old code, so a changed file must make a new one; each
 * module must keep its own import.meta.url (Pier finds its assets from it); and the real CLI must
 * really run from the bundle, not fall back to tsx without saying so.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
// @ts-expect-error: a plain ES module of the launcher, without types
import { importCompiled } from '../bin/compiled.js';

const ROOT = resolve(import.meta.dirname, '..');
const project = mkdtempSync(join(tmpdir(), 'pier-bundle-'));
afterAll(() => rmSync(project, { recursive: true, force: true }));

describe('the CLI bundle (bin/compiled.js)', () => {
  it('is made again when a file under src/ changes, and each module keeps its own import.meta.url', async () => {
    mkdirSync(join(project, 'src', 'cli'), { recursive: true });
    mkdirSync(join(project, 'node_modules'));
    symlinkSync(join(ROOT, 'node_modules', 'esbuild'), join(project, 'node_modules', 'esbuild'));
    writeFileSync(join(project, 'src', 'cli', 'index.ts'), "export { message, messageUrl } from '../words/message.js';\nexport const indexUrl: string = import.meta.url;\n");
    mkdirSync(join(project, 'src', 'words'));
    const message = join(project, 'src', 'words', 'message.ts');
    writeFileSync(message, "export const message = 'one';\nexport const messageUrl: string = import.meta.url;\n");

    const first = await importCompiled('cli/index.ts', project);
    expect(first.message).toBe('one');
    expect(first.indexUrl).toBe(pathToFileURL(join(project, 'src', 'cli', 'index.ts')).href);
    expect(first.messageUrl).toBe(pathToFileURL(message).href);
    const cache = join(project, 'node_modules', '.cache', 'pier');
    const built = readdirSync(cache);
    expect(built).toHaveLength(1);

    // the same size: only the file's time tells it changed
    writeFileSync(message, "export const message = 'two';\nexport const messageUrl: string = import.meta.url;\n");
    const second = await importCompiled('cli/index.ts', project);
    expect(second.message).toBe('two');
    const rebuilt = readdirSync(cache);
    expect(rebuilt).toHaveLength(1);
    expect(rebuilt[0]).not.toBe(built[0]);

    // unchanged sources: the same bundle, not a new one
    await importCompiled('cli/index.ts', project);
    expect(readdirSync(cache)).toEqual(rebuilt);
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
