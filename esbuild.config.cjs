// esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and the benchmark, so what is measured is what is deployed.
// `module` first in mainFields lets esbuild take a dependency's ES-module build, where it has one, and drop what is unused.
//
// The AWS SDK is left out of the bundles and taken from the nodejs22.x runtime, which ships SDK v3
// (the one AWS call is Secrets Manager's GetSecretValue, a stable API; lib/auth/secrets-manager.ts loads it
// when the handler is built, in Lambda's init phase, within an overall abort budget of its own).
// SDK bundled (tree-shaken to GetSecretValue) the zips are about 115 KiB instead of about 9 KiB; the
// measured cold starts of both ways are in README "Authenticated cold start" (`npm run bench`).
// Excluded is shipped: a tenth of the upload and no SDK code in the bundle for the runtime to parse
// when authentication is off. The price: the SDK version is the runtime's (AWS updates it), not the
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
