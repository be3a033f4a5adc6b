// The policy file's delivery (DESIGN "Fleet policy", Delivery), run by the stage plugin
// (deploy/serverless-webhook-stage.cjs):
// - before anything is bundled (package, `deploy function`, `npm start`, `npm run invoke`), the file
//   named by the `policyFile` param is checked with the tools' own checker (lib/cli/policy-file.ts,
//   loaded through tsx: one validator for the tools, packaging and the functions); an invalid file
//   stops the command with every problem as `file:line:column: field: message`. The parsed policy
//   is written as JSON into the build folder, so it lands at the root of each function's zip, and
//   POLICY_FILE points at it. Each function's environment is run through the functions' own
//   settings check too, so a value they would refuse at start-up (502 on every review) fails here.
// - a policy param on the command line or in a stage block of serverless.yml (the params the
//   policy used to be set with) is refused, naming the file field to use instead.
// - the template records the policy's file and version, and where it still allows the placeholder
//   registry, for the deploy guard (assertPolicyDeployable), which also runs the settings check on
//   the template it is about to deploy (`deploy --package` included).
'use strict';

const { mkdirSync, writeFileSync } = require('node:fs');
const { join, resolve } = require('node:path');

/** The params the policy was configured with before the policy file, and the file field of each. */
const POLICY_PARAMS = {
  allowedRegistries: 'allowedRegistries',
  imagePullSecrets: 'imagePullSecrets',
  imagePullSecretNamespaces: 'imagePullSecretNamespaces',
  defaultImagePullPolicy: 'defaultImagePullPolicy',
  imagePullPolicyMode: 'imagePullPolicyMode',
  validationAction: 'validationAction',
  exemptNamespaces: 'exemptNamespaces',
  imageMirrors: 'imageMirrors',
  disallowedTags: 'disallowedTags',
  requireDigest: 'requireDigest',
};

/** The registry of the built-in defaults: a placeholder, not a registry anybody pulls from. */
const EXAMPLE_REGISTRY = 'registry.example.com';
/** Where the template records the policy it was packaged with. */
const METADATA_KEY = 'AdmissionWebhooksPolicy';
const POLICY_JSON = 'policy.json';

/** The project's TypeScript modules, loaded through tsx (a devDependency, as the framework is). */
function projectModule(path) {
  const { require: tsxRequire } = require('tsx/cjs/api');
  return tsxRequire(join(__dirname, '..', path), __filename);
}

/** Throws if any policy param is given on the command line or in serverless.yml's params. */
function refusePolicyParams(cliParams, configParams) {
  const given = [];
  for (const item of [cliParams ?? []].flat()) {
    const name = String(item).split('=')[0];
    if (Object.hasOwn(POLICY_PARAMS, name)) given.push({ name, where: `--param=${item}` });
  }
  for (const [stage, params] of Object.entries(configParams ?? {})) {
    for (const name of Object.keys(params ?? {})) {
      if (Object.hasOwn(POLICY_PARAMS, name)) given.push({ name, where: `params.${stage}.${name} in serverless.yml` });
    }
  }
  if (given.length === 0) return;
  throw new Error(
    `the policy is set in the policy file (param policyFile, default policy.yaml), not in params:\n${given
      .map(({ name, where }) => `  - ${where}: set defaults.${POLICY_PARAMS[name]} (or clusters.<cluster>.${POLICY_PARAMS[name]}) in the policy file instead`)
      .join('\n')}`,
  );
}

/** The fields of a parsed policy that allow the example registry (the built-in default counts where defaults leaves it out). */
function exampleRegistryFields(document) {
  const fields = [];
  const check = (rules, field) => {
    if (Array.isArray(rules) && rules.some((rule) => String(rule).trim().toLowerCase().replace(/\/.*$/, '') === EXAMPLE_REGISTRY)) fields.push(field);
  };
  const defaults = document?.defaults ?? {};
  if (defaults.allowedRegistries === undefined) fields.push('defaults.allowedRegistries (left out: the built-in default)');
  else check(defaults.allowedRegistries, 'defaults.allowedRegistries');
  for (const [key, entry] of Object.entries(document?.namespaces ?? {})) check(entry?.allowedRegistries, `namespaces.${key}.allowedRegistries`);
  for (const [cluster, entry] of Object.entries(document?.clusters ?? {})) {
    check(entry?.allowedRegistries, `clusters.${cluster}.allowedRegistries`);
    for (const [key, nested] of Object.entries(entry?.namespaces ?? {})) check(nested?.allowedRegistries, `clusters.${cluster}.namespaces.${key}.allowedRegistries`);
  }
  return fields;
}

/** The functions' own start-up check of their settings, on one function's environment. */
function checkFunctionEnvironment(name, environment) {
  const { loadSettings } = projectModule('lib/policies/fleet/config.ts');
  try {
    loadSettings(environment);
  } catch (error) {
    throw new Error(`function ${name} would fail to start: ${error.message}`);
  }
}

/**
 * Checks the policy file and writes it as JSON to `buildDir/policy.json`. Returns what the
 * template records, the warnings, and the union of the clusters' origins. Throws with every
 * problem, `file:line:column: field: message`.
 */
function preparePolicy({ serviceDir, policyFile, buildDir }) {
  const { checkPolicyFile, problemLine } = projectModule('lib/cli/policy-file.ts');
  const file = String(policyFile ?? '').trim();
  if (file === '') throw new Error('the policyFile param is empty: name the policy file (default policy.yaml)');
  const check = checkPolicyFile(resolve(serviceDir, file));
  if (check.problems.length > 0) {
    throw new Error(`the policy file is not valid:\n${check.problems.map((problem) => `  ${problemLine(file, problem)}`).join('\n')}`);
  }
  mkdirSync(buildDir, { recursive: true });
  writeFileSync(join(buildDir, POLICY_JSON), JSON.stringify(check.document));
  const { fleetOrigins } = projectModule('lib/policies/fleet/cluster-origins.ts');
  return {
    policyFile: file,
    policyVersion: check.version,
    exampleRegistry: exampleRegistryFields(check.document),
    warnings: check.warnings.map((warning) => problemLine(file, warning)),
    // Where the clusters call from, for the edge (DESIGN "Cluster identity").
    origins: fleetOrigins(check.policy.clusters),
  };
}

/**
 * The deploy guard's policy checks, on the template about to be deployed: it was packaged with a
 * policy file, every function's settings pass the functions' own check, and the policy does not
 * allow the placeholder registry on a real stage unless `allowExampleRegistry` says it is meant.
 */
function assertPolicyDeployable(template, { stage, allowExampleRegistry }) {
  const recorded = template?.Metadata?.[METADATA_KEY];
  if (!recorded) throw new Error('Refusing to deploy: the template records no policy file. Package it again with this version of the project.');
  for (const [logicalId, resource] of Object.entries(template.Resources ?? {})) {
    if (resource.Type === 'AWS::Lambda::Function') checkFunctionEnvironment(logicalId, resource.Properties?.Environment?.Variables ?? {});
  }
  if (stage === 'local' || recorded.exampleRegistry.length === 0 || String(allowExampleRegistry).trim() === 'true') return;
  throw new Error(
    `Refusing to deploy stage ${stage}: the policy (${recorded.policyFile}) allows ${EXAMPLE_REGISTRY}, the example registry, in ` +
      `${recorded.exampleRegistry.join(', ')}. In deny mode that refuses every Pod outside the exempt namespaces. ` +
      `Put your registries in ${recorded.policyFile} and package again, or pass --param=allowExampleRegistry=true if it is meant.`,
  );
}

module.exports = {
  POLICY_PARAMS,
  POLICY_JSON,
  METADATA_KEY,
  EXAMPLE_REGISTRY,
  refusePolicyParams,
  exampleRegistryFields,
  checkFunctionEnvironment,
  preparePolicy,
  assertPolicyDeployable,
};
