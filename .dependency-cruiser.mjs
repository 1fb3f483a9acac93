// Layering rules of celeriac, checked by `npm run lint:layers` (dependency-cruiser).
//
// One cruise covers two trees:
//  - the TypeScript source (lib/, bin/), parsed with swc: every import, type-only ones included,
//    so a layer may not even name a type of a layer above it;
//  - the compiled JavaScript (dist/lib, dist/bin): exactly the imports that exist at run time,
//    where import cycles are checked (a type-only cycle costs nothing at run time).
// dependency-cruiser reads TypeScript through the `typescript` package only up to 6.x; the project
// builds with TypeScript 7 (the native compiler, no JavaScript API), hence swc for the source.
//
// LAYERS is the one place the intended layering is written down; docs/architecture.md points here.
// A module may import from its own layer and from the layers before it, never from one after it.

import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';

/** Layers, lowest first. Each is a list of path patterns relative to lib/ (regular expressions). */
const LAYERS = [
  { name: 'foundation', paths: ['util/', 'log/', 'errors/', 'tracing/'] },
  { name: 'broker', paths: ['broker/'] },
  { name: 'protocol', paths: ['protocol/'] },
  // Publishing Celery events (task-sent by producers, worker and task events by workers).
  { name: 'event-dispatch', paths: ['events/dispatcher\\.ts$'] },
  { name: 'backends', paths: ['backends/'] },
  { name: 'result', paths: ['result/'] },
  { name: 'canvas', paths: ['canvas/'] },
  { name: 'app-core', paths: ['app/(?!app\\.ts$)'] },
  { name: 'worker', paths: ['worker/'] },
  { name: 'app-facade', paths: ['app/app\\.ts$'] },
  { name: 'services', paths: ['control/', 'events/(?!dispatcher\\.ts$)', 'metrics/', 'beat/'] },
  { name: 'index', paths: ['index\\.ts$'] },
  // Users of the public API (with bin/): nothing in lib/ imports them; what they import is
  // the rule public-entries-only's.
  { name: 'examples', paths: ['examples/'] },
];

/** The package's public entry points (package.json `exports`): all that bin/ and lib/examples may import. */
const PUBLIC_ENTRIES = ['lib/index\\.ts$', 'lib/metrics/worker-metrics\\.ts$', 'lib/beat/beat\\.ts$'];

const sourceLayer = (layer) => `^lib/(${layer.paths.join('|')})`;

const layerRules = LAYERS.slice(0, -1).map((layer, i) => ({
  name: `layer-${layer.name}`,
  comment: `${layer.name} may import only from itself and from: ${
    LAYERS.slice(0, i)
      .map((l) => l.name)
      .join(', ') || '(nothing)'
  }`,
  severity: 'error',
  from: { path: sourceLayer(layer) },
  to: { path: LAYERS.slice(i + 1).map(sourceLayer) },
}));

/**
 * Compiled files whose source is gone (tsc does not delete them): left out, so a stale dist/
 * cannot report a cycle the source no longer has.
 */
function staleCompiledFiles() {
  const stale = [];
  for (const root of ['dist/lib', 'dist/bin']) {
    if (!existsSync(root)) continue;
    for (const entry of readdirSync(root, { recursive: true, withFileTypes: true })) {
      if (!entry.isFile() || !entry.name.endsWith('.js')) continue;
      const compiled = join(entry.parentPath, entry.name);
      const source = compiled.replace(/^dist\//, '').replace(/\.js$/, '.ts');
      if (!existsSync(source)) stale.push(`^${compiled.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`);
    }
  }
  return stale;
}

/** @type {import('dependency-cruiser').IConfiguration} */
export default {
  forbidden: [
    ...layerRules,
    {
      name: 'public-entries-only',
      comment: 'bin/ and lib/examples/ use celeriac as its users do: through the public entry points only',
      severity: 'error',
      from: { path: '^(bin/|lib/examples/)' },
      to: { path: '^lib/', pathNot: ['^lib/examples/', ...PUBLIC_ENTRIES] },
    },
    {
      name: 'lib-not-to-bin',
      comment: 'the library does not depend on the command line',
      severity: 'error',
      from: { path: '^lib/' },
      to: { path: '^bin/' },
    },
    {
      name: 'no-circular',
      comment: 'no import cycle at run time (checked on the compiled JavaScript)',
      severity: 'error',
      from: { path: '^dist/(lib|bin)/' },
      to: { circular: true },
    },
    {
      name: 'not-to-unresolvable',
      comment: 'every import resolves',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
    {
      name: 'no-non-package-json',
      comment: 'a package used by lib/ or bin/ is declared in package.json',
      severity: 'error',
      from: { path: '^(dist/)?(lib|bin)/' },
      to: { dependencyTypes: ['npm-no-pkg', 'npm-unknown'] },
    },
    {
      name: 'not-to-dev-dep',
      comment:
        'lib/ and bin/ load only dependencies at run time;' +
        ' an optional peer (@opentelemetry/api) is loaded through createRequire where present',
      severity: 'error',
      from: { path: '^dist/(lib|bin)/' },
      to: { dependencyTypes: ['npm-dev'], dependencyTypesNot: ['npm-peer'] },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: ['\\.d\\.ts$', '\\.map$', ...staleCompiledFiles()] },
    parser: 'swc',
    moduleSystems: ['es6'],
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.d.ts'],
    },
  },
};
