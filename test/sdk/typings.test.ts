import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

// The fixtures are kept as .ts.txt so that the project's own `tsc --noEmit` does not compile them
// (one of them must fail); this test compiles them with iamport-typings resolved to its real entry.
const root = process.cwd();
const work = mkdtempSync(join(tmpdir(), 'pier-sdk-types-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

function compile(fixture: string): string[] {
  const file = join(work, fixture.replace(/\.txt$/, ''));
  writeFileSync(file, readFileSync(join(root, 'test/sdk/fixture', fixture), 'utf8').replace('PIER_SDK_TYPES', join(root, 'sdk/types.js')));
  const program = ts.createProgram([file, join(root, 'sdk/index.ts')], {
    target: ts.ScriptTarget.ES2020,
    module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler,
    lib: ['lib.es2020.d.ts', 'lib.dom.d.ts'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    types: [],
    paths: { 'iamport-typings': [join(root, 'node_modules/iamport-typings/src/index.d.ts')] },
  });
  return ts.getPreEmitDiagnostics(program).map((d) => `${d.file?.fileName ?? ''}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
}

describe('SDK types and iamport-typings', () => {
  it("a merchant snippet written against iamport-typings compiles against Pier's IMP (and the SDK itself type-checks)", () => {
    expect(compile('merchant.ts.txt')).toEqual([]);
  });

  it('still refuses what V1 refuses: an amount given as a string does not compile', () => {
    expect(compile('wrong.ts.txt').join('\n')).toMatch(/'string' is not assignable to type 'number'/);
  });
});
