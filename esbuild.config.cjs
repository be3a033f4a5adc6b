// esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and the benchmark, so what is measured is what is deployed.
// `module` first in mainFields lets esbuild take a dependency's ES-module build, where it has one, and drop what is unused.
//
// The Secrets Manager client is bundled, tree-shaken to what GetSecretValue needs (the plugin below),
// rather than taken from the nodejs22.x runtime: `npm run bench` measured the authenticated cold start
// (SDK load, client, secret read at init; README "Authenticated cold start") 25-118 ms faster that
// way in every full run, because one file loads faster than the SDK's many modules. The price, also
// measured there: each zip grows from about 11 KiB to about 115 KiB (the Smithy runtime, SigV4
// signing and the default credential chain), a cold start with authentication off (local use only)
// parses that code for nothing, and the SDK version is the lockfile's instead of the runtime's.
// test/packaged-bundle.test.ts runs the packaged zips with no SDK anywhere on the module path.
//
// `dynamic-import: false` makes esbuild turn the lazy `import('@aws-sdk/client-secrets-manager')` of
// lib/auth/secrets-manager.ts into a require of the bundled module, which is then evaluated only
// when authentication is on.
'use strict';

const SECRETS_MANAGER = '@aws-sdk/client-secrets-manager';

/**
 * The client's own files that lib/auth/secrets-manager.ts uses. Resolving the package to a module
 * that re-exports only these lets esbuild drop every other command: the package's index is an
 * `export *` of all of them, which esbuild cannot tree-shake behind a lazy import.
 */
const SECRETS_MANAGER_FILES_USED = {
  SecretsManagerClient: 'SecretsManagerClient.js',
  GetSecretValueCommand: 'commands/GetSecretValueCommand.js',
  ResourceNotFoundException: 'models/errors.js',
};

const getSecretValueOnly = {
  name: 'secrets-manager-get-secret-value-only',
  setup(build) {
    build.onResolve({ filter: /^@aws-sdk\/client-secrets-manager$/ }, () => ({ path: SECRETS_MANAGER, namespace: 'get-secret-value-only' }));
    build.onLoad({ filter: /.*/, namespace: 'get-secret-value-only' }, () => ({
      contents: Object.entries(SECRETS_MANAGER_FILES_USED)
        .map(([name, file]) => `export { ${name} } from '${SECRETS_MANAGER}/dist-es/${file}';`)
        .join('\n'),
      resolveDir: __dirname,
      loader: 'js',
    }));
  },
};

/** Plain esbuild options (what the benchmark passes to esbuild.build). */
const esbuildOptions = () => ({
  minify: true,
  sourcemap: false,
  target: 'node22',
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  legalComments: 'none',
  plugins: [getSecretValueOnly],
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
 * `exclude: []` (its default leaves out the v2 `aws-sdk`, which nothing here uses: everything is in
 * the bundle), and each command gets its own work folder (see workFolder).
 */
module.exports = (serverless) =>
  serverless ? { ...esbuildOptions(), exclude: [], outputWorkFolder: workFolder(serverless) } : esbuildOptions();
module.exports.SECRETS_MANAGER = SECRETS_MANAGER;
module.exports.workFolder = workFolder;
