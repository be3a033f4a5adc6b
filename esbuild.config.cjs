// esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and the benchmark, so what is measured is what is deployed.
// `module` first in mainFields lets esbuild take a dependency's ES-module build, where it has one, and drop what is unused.
//
// The AWS SDK is left out of the bundles and taken from the nodejs22.x runtime, which ships SDK v3
// (the one AWS call is Secrets Manager's GetSecretValue, a stable API; lib/auth/secrets-manager.ts loads it
// on first use, with an overall abort budget of its own). Measured with `npm run package`:
//   SDK bundled:  mutate.zip 123 KB (mutate.js 348 KB), validate.zip 124 KB
//   SDK excluded: mutate.zip  11 KB (mutate.js  28 KB), validate.zip  12 KB (validate.js 30 KB)
// Loading the bundle took 16 ms with the SDK inside and 5 ms without it (Node 20, x86, idle); loading
// and constructing the SDK client on the first authenticated request took 30-60 ms either way.
// Excluded wins: a tenth of the upload, and a cold start that does not parse 300 KB of SDK code the
// runtime already has. The price: the SDK version is the runtime's (AWS updates it), not the
// lockfile's. To pin it instead, drop `external` and `exclude` below (bench/build.ts adds the SDK
// as external by itself: change it too).
// test/packaged-bundle.test.ts runs the packaged zip with the SDK found through NODE_PATH, as on Lambda.
//
// `dynamic-import: false` makes esbuild turn the lazy `import('@aws-sdk/client-secrets-manager')`
// into `require()`, which resolves through NODE_PATH (where the runtime keeps the SDK) on any Node.
'use strict';

const AWS_SDK = '@aws-sdk/*';

/** Plain esbuild options (what the benchmark passes to esbuild.build). */
const esbuildOptions = () => ({
  minify: true,
  sourcemap: false,
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  legalComments: 'none',
  external: [AWS_SDK],
  supported: { 'dynamic-import': false },
});

/**
 * serverless-esbuild's work folder for a command: `.esbuild/package` for `serverless package`,
 * `.esbuild/offline-start` for `npm start`, `.esbuild/invoke-local` for `npm run invoke`. With one
 * shared `.esbuild` (the plugin's default), a `serverless package` run in the same clone deletes
 * the folder `npm start` serves its handlers from when it finishes, and every local request then
 * fails with 502 (`Cannot find module .../.esbuild/.build/...`) until the server is restarted.
 * The plugin's file watcher ignores `.esbuild`, so rebuilds do not trigger each other.
 */
function workFolder(serverless) {
  const commands = serverless.processedInput?.commands ?? [];
  return `.esbuild/${commands.length > 0 ? commands.join('-') : 'build'}`;
}

/**
 * Called with the framework instance by serverless-esbuild, which then also needs its own options:
 * `exclude` keeps the SDK out of the zip (and out of any npm install of externals), and each
 * command gets its own work folder (see workFolder).
 */
module.exports = (serverless) =>
  serverless ? { ...esbuildOptions(), exclude: [AWS_SDK], outputWorkFolder: workFolder(serverless) } : esbuildOptions();
