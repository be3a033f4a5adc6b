// esbuild options for the Lambda bundles, shared by serverless-esbuild (serverless.yml `custom.esbuild.config`)
// and the benchmark, so what is measured is what is deployed.
// `module` first in mainFields lets esbuild take a dependency's ES-module build, where it has one, and drop what is unused.
//
// The Secrets Manager client is bundled, tree-shaken to what GetSecretValue needs (the plugins below),
// rather than taken from the Lambda runtime: `npm run bench` measured the authenticated cold start
// (SDK load, client, secret read at init; docs/performance.md "Authenticated cold start") 25-118 ms faster that
// way in every full run, because one file loads faster than the SDK's many modules. The price, also
// measured there: each zip grows from about 11 KiB to about 75 KiB (the Smithy runtime and SigV4
// signing; 115 KiB before the default credential chain was left out), a cold start with
// authentication off (local use only) parses that code for nothing, and the SDK version is the
// lockfile's instead of the runtime's.
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

/**
 * SDK modules the functions never run, each replaced in the bundle by a module whose exports throw
 * an error that says so. The default credential chain (environment, SSO, profiles, web identity,
 * ECS and EC2 metadata, with the STS and SSO clients they use: about 130 KB of the 300 KB the
 * client took minified): the functions' client is given the role's credentials from the
 * environment (lib/auth/secrets-manager.ts), so the SDK keeps a reference to the chain but never
 * calls it. The commands in scripts/ need the chain, and run the SDK from node_modules, unbundled.
 */
const NEVER_RUN_BY_THE_FUNCTIONS = {
  '@aws-sdk/credential-provider-node': ['defaultProvider'],
};
const LEAVE_OUT_PLUGIN = 'sdk-code-the-functions-never-run';

const leaveOutWhatTheFunctionsNeverRun = {
  name: LEAVE_OUT_PLUGIN,
  setup(build) {
    const names = Object.keys(NEVER_RUN_BY_THE_FUNCTIONS).map((name) => name.replace(/[/.]/g, '\\$&'));
    build.onResolve({ filter: new RegExp(`^(${names.join('|')})$`) }, (args) => ({ path: args.path, namespace: LEAVE_OUT_PLUGIN }));
    build.onLoad({ filter: /.*/, namespace: LEAVE_OUT_PLUGIN }, (args) => {
      const message = `${args.path} is left out of the function bundles (esbuild.config.cjs): the functions never run it`;
      return {
        contents: NEVER_RUN_BY_THE_FUNCTIONS[args.path].map((name) => `export function ${name}() { throw new Error(${JSON.stringify(message)}); }`).join('\n'),
        loader: 'js',
      };
    });
  },
};

/** Plain esbuild options (what the benchmark passes to esbuild.build). */
const esbuildOptions = () => ({
  minify: true,
  sourcemap: false,
  // The Lambda runtime's Node.js (serverless.yml provider.runtime).
  target: 'node24',
  platform: 'node',
  format: 'cjs',
  mainFields: ['module', 'main'],
  legalComments: 'none',
  plugins: [getSecretValueOnly, leaveOutWhatTheFunctionsNeverRun],
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
module.exports.LEAVE_OUT_PLUGIN = LEAVE_OUT_PLUGIN;
