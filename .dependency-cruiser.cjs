/**
 * Pier's layering, checked by test/architecture.test.ts (dependency-cruiser). Type-only imports
 * are left out: they vanish at build time and cannot make a cycle at run time.
 */
const OUTER = '^src/(api|console|cli|main[.]ts|cluster[.]ts)';
module.exports = {
  forbidden: [
    {
      name: 'no-runtime-cycle',
      comment: 'A module must not import itself back through others: break the cycle (move what both need down, or split the module).',
      severity: 'error',
      from: { path: '^src/' },
      to: { circular: true },
    },
    {
      name: 'inner-layers-stay-inside',
      comment: 'Use cases, the domain, the store, connectors, the vault and helpers never reach the HTTP, console or CLI layers: core raises domain errors that api/ maps.',
      severity: 'error',
      from: { path: '^src/(core|domain|store|connectors|lib|vault)/' },
      to: { path: OUTER },
    },
    {
      name: 'store-and-connectors-below-core',
      comment: 'The store and the PG connectors know nothing of the use cases built on them.',
      severity: 'error',
      from: { path: '^src/(store|connectors|domain|lib|vault)/' },
      to: { path: '^src/(core|jobs|webhooks|operations)/' },
    },
    {
      name: 'simulators-are-separate-apps',
      comment: 'Connectors and core never import simulator code; a simulator imports nothing of Pier but lib/.',
      severity: 'error',
      from: { path: '^src/(?!simulators/|main[.]ts|cli/)' },
      to: { path: '^src/simulators/' },
    },
    {
      name: 'simulators-use-only-lib',
      severity: 'error',
      from: { path: '^src/simulators/' },
      to: { path: '^src/(?!simulators/|lib/)' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    // type-only imports are erased by the compiler: not dependencies at run time
    tsPreCompilationDeps: false,
    tsConfig: { fileName: 'tsconfig.json' },
  },
};
