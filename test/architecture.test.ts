import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { cruise, type ICruiseResult } from 'dependency-cruiser';
import extractDepcruiseOptions from 'dependency-cruiser/config-utl/extract-depcruise-options';
import extractTSConfig from 'dependency-cruiser/config-utl/extract-ts-config';
import { afterAll, describe, expect, it } from 'vitest';

/** Pier's import rules (.dependency-cruiser.cjs): no runtime cycles, inner layers never reach outward. */
const ROOT = resolve(import.meta.dirname, '..');

async function violationsIn(dir: string): Promise<string[]> {
  const options = await extractDepcruiseOptions(join(ROOT, '.dependency-cruiser.cjs'));
  // baseDir: the rules' paths are relative to the cruised project
  const result = await cruise(['src'], { ...options, baseDir: dir, validate: true }, {}, { tsConfig: extractTSConfig(join(dir, 'tsconfig.json')) });
  const output = result.output as ICruiseResult;
  return output.summary.violations.map((v) => `${v.rule.name}: ${[v.from, ...(v.cycle?.map((c) => c.name) ?? [v.to])].join(' → ')}`);
}

describe('architecture: what imports what', () => {
  it("Pier's own source keeps every rule", { timeout: 60_000 }, async () => {
    expect(await violationsIn(ROOT)).toEqual([]);
  });

  describe('the rules catch what they are for', () => {
    const dir = mkdtempSync(join(tmpdir(), 'pier-arch-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const write = (path: string, text: string) => {
      mkdirSync(dirname(join(dir, path)), { recursive: true });
      writeFileSync(join(dir, path), text);
    };

    it('a runtime cycle, core reaching the HTTP layer, a connector importing a simulator; not a cycle of types', { timeout: 60_000 }, async () => {
      write('tsconfig.json', JSON.stringify({ compilerOptions: { module: 'NodeNext', moduleResolution: 'NodeNext', strict: true }, include: ['src'] }));
      // the shape of the cycle that was: a settlement that acknowledges, an acknowledgement that settles
      write('src/core/checkout/settle.ts', "import { confirm } from './confirm.js';\nexport const settle = () => confirm();\n");
      write('src/core/checkout/confirm.ts', "import { settle } from './settle.js';\nexport const confirm = (): void => void settle;\n");
      write('src/api/errors.ts', 'export class V1Error extends Error {}\n');
      write('src/core/payments/pay.ts', "import { V1Error } from '../../api/errors.js';\nexport const fail = () => new V1Error();\n");
      write('src/simulators/jtnet/app.ts', 'export const app = 1;\n');
      write('src/connectors/jtnet/client.ts', "import { app } from '../../simulators/jtnet/app.js';\nexport const client = app;\n");
      // types only: erased at build time, so no cycle and no layer crossing at run time
      write('src/core/a.ts', "import type { B } from './b.js';\nexport interface A { b?: B }\n");
      write('src/core/b.ts', "import type { A } from './a.js';\nimport type { V1Error } from '../api/errors.js';\nexport interface B { a?: A; e?: V1Error }\n");

      expect((await violationsIn(dir)).sort()).toEqual([
        'inner-layers-stay-inside: src/core/payments/pay.ts → src/api/errors.ts',
        'no-runtime-cycle: src/core/checkout/confirm.ts → src/core/checkout/settle.ts → src/core/checkout/confirm.ts',
        'simulators-are-separate-apps: src/connectors/jtnet/client.ts → src/simulators/jtnet/app.ts',
      ]);
    });
  });
});
