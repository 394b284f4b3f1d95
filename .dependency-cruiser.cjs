// The layering of ARCHITECTURE.md, enforced: each folder may import only those named.
// Runs in `npm test` (npm run lint:deps).
const layers = {
  lib: [],
  core: ['lib'],
  spec: ['core', 'lib'],
  store: ['core', 'lib'],
  scheduler: ['core', 'lib'],
  controllers: ['core', 'lib', 'store', 'scheduler'],
  api: ['core', 'lib', 'spec', 'store', 'controllers', 'client', 'pki'],
  server: ['core', 'lib', 'spec', 'store', 'scheduler', 'controllers', 'api', 'client', 'pki'],
  driver: ['core', 'lib'],
  agent: ['core', 'lib', 'driver', 'client', 'pki'],
  client: ['core', 'lib'],
  cli: ['client', 'core', 'spec', 'lib', 'pki'],
  // Node-only: CA, certificates, join tokens, TLS fetch. Never imported by client (browser-safe).
  pki: ['core', 'lib'],
};

// The CLI starts the server and the agent (`karu server|agent|dev`): it may reach their
// composition roots, and nothing else inside them.
const entryPoints = {
  cli: ['^src/server/main\\.ts$', '^src/agent/main\\.ts$'],
};

const forbidden = [
  {
    name: 'no-circular',
    severity: 'error',
    comment: 'Import cycles make layers meaningless and initialisation order fragile.',
    from: {},
    to: { circular: true, viaOnly: { dependencyTypesNot: ['type-only'] } },
  },
  ...Object.entries(layers).map(([layer, allowed]) => ({
    name: `layer-${layer}`,
    severity: 'error',
    comment: `src/${layer} may import only: ${allowed.join(', ') || 'nothing of ours'} (see docs/design/architecture.md)`,
    from: { path: `^src/${layer}/` },
    to: { path: '^src/', pathNot: [`^src/${layer}/`, ...allowed.map((a) => `^src/${a}/`), ...(entryPoints[layer] ?? [])] },
  })),
];

module.exports = {
  forbidden,
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '\\.test\\.ts$' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
