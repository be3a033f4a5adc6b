/**
 * Wires a policy to its configuration and caller authentication at start-up: the settings, the
 * fleet policy (the policy file, or the policy variables without one) compiled for lookups, and
 * the handler that applies the matched cluster's policy for each review's namespace. Invalid
 * configuration throws here, so the function fails to initialise with a message naming the
 * variable or the policy field instead of answering wrongly.
 */
import { readFileSync } from 'node:fs';
import type { AdmissionRequest } from './admission/admission-review';
import { type Authenticate, createCallerAuth, createOpenAuth } from './auth/caller-auth';
import { bindCallerOrigins } from './auth/caller-origin';
import { type Config, ConfigError, type Settings, loadConfig, loadSettings, policyDocumentFromEnv } from './policies/fleet/config';
import { type FleetPolicy, createFleetPolicy } from './policies/fleet/fleet-policy';
import { type CompiledPolicy, checkPolicyDocument } from './policies/fleet/policy-document';
import { formatPath } from './policies/fleet/policy-fields';
import { policyVersion } from './policies/fleet/policy-version';
import { type LogSink, consoleSink } from './common/log';
import { type Decision, requestNamespace } from './policies/decision';
import { secretsManagerFetcher } from './auth/secrets-manager';
import { createWebhookHandler } from './transport/webhook';

/**
 * Budget of the secret read begun at start-up (Lambda's init phase): as long as the longest
 * request budget, so a request that joins it is bounded by its own budget, never by this one.
 * Lambda freezes a provisioned instance right after init, maybe with this read under way; its
 * deadline runs on meanwhile, and a read that fails at the thaw is not counted (FROZEN_SLACK_MS).
 */
export const START_READ_BUDGET_MS = 5000;

/** A policy: a pure function of the request, its effective configuration and the time (exceptions expire). */
export type PolicyFunction = (request: AdmissionRequest, config: Config, now: number) => Decision;

/** Reads a policy file into its parsed document. */
export type ReadPolicyFile = (file: string) => unknown;

/**
 * The function bundle reads JSON only: packaging converts policy.yaml to JSON inside each zip, so
 * no YAML parser is paid for on a cold start. The tools pass a reader that also takes YAML.
 */
export const readJsonPolicyFile: ReadPolicyFile = (file) => {
  if (!file.endsWith('.json')) {
    throw new ConfigError('POLICY_FILE', `"${file}" is not JSON: the functions read the JSON that packaging writes from the policy file`);
  }
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError('POLICY_FILE', `"${file}" cannot be read: ${(error as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ConfigError('POLICY_FILE', `"${file}" is not valid JSON: ${(error as Error).message}`);
  }
};

/** A policy document checked and compiled; its problems, each with its field, as one ConfigError. */
function compilePolicyDocument(document: unknown, file: string): CompiledPolicy {
  const { policy, problems } = checkPolicyDocument(document);
  if (!policy) {
    const lines = problems.map((problem) => `  ${problem.path.length > 0 ? `${formatPath(problem.path)}: ` : ''}${problem.message}`);
    throw new ConfigError('POLICY_FILE', `"${file}" is not a valid policy:\n${lines.join('\n')}`);
  }
  return policy;
}

const NO_LAYERS: CompiledPolicy = { defaults: {}, namespaces: { exact: new Map(), prefixes: [] }, clusters: new Map(), exceptions: [] };

/** The fleet policy: from the policy file if `POLICY_FILE` names one, else from the policy variables. */
export function loadFleetPolicy(
  env: Readonly<Record<string, string | undefined>>,
  settings: Settings,
  readPolicyFile: ReadPolicyFile = readJsonPolicyFile,
): FleetPolicy {
  if (settings.policyFile === undefined) {
    return createFleetPolicy(NO_LAYERS, policyVersion(policyDocumentFromEnv(env)), loadConfig(env));
  }
  const document = readPolicyFile(settings.policyFile);
  return createFleetPolicy(compilePolicyDocument(document, settings.policyFile), policyVersion(document), loadConfig({}));
}

/**
 * The caller authentication of one webhook. With a secret configured, loading the SDK and reading
 * the secret start at once, during Lambda's init phase, instead of inside the first request: the
 * first review no longer waits for them when it comes after init (provisioned concurrency), and
 * never waits longer than it would have (docs/performance.md, "Authenticated cold start").
 * The first read also tells, once, which clusters of the policy the secret has no token for.
 */
export function authenticatorFor(webhook: string, settings: Settings, log: LogSink, fleet?: FleetPolicy): Authenticate {
  if (!settings.tokenSecretId) return createOpenAuth(log);
  let checked = false;
  return createCallerAuth({
    webhook,
    fetchVersion: secretsManagerFetcher(settings.tokenSecretId),
    ttlMs: settings.secretCacheTtlSeconds * 1000,
    log,
    startBudgetMs: START_READ_BUDGET_MS,
    onClusters: (clusters) => {
      if (checked || !fleet) return;
      checked = true;
      const missing = fleet.clusters.filter((cluster) => !clusters.includes(cluster));
      if (missing.length > 0) {
        log({
          level: 'WARN',
          message: 'the policy names clusters that the token secret has no token for: their rules apply to no caller',
          webhook,
          clusters: missing,
          policyVersion: fleet.version,
        });
      }
    },
  });
}

export interface HandlerOptions {
  log?: LogSink;
  /** How POLICY_FILE is read (the functions: JSON only). */
  readPolicyFile?: ReadPolicyFile;
  /** Instead of the configured caller authentication (the review command names its cluster). */
  authenticate?: Authenticate;
}

export function configuredHandler(
  name: string,
  policy: PolicyFunction,
  env: Readonly<Record<string, string | undefined>> = process.env,
  { log = consoleSink, readPolicyFile, authenticate }: HandlerOptions = {},
) {
  const settings = loadSettings(env);
  const fleet = loadFleetPolicy(env, settings, readPolicyFile);
  const handler = createWebhookHandler({
    name,
    policy: (request, caller) => policy(request, fleet.configFor(caller.cluster, requestNamespace(request)), Date.now()),
    policyVersion: fleet.version,
    // A cluster the policy binds to where it calls from is refused from anywhere else (DESIGN "Cluster identity").
    authenticate: authenticate ?? bindCallerOrigins(authenticatorFor(name, settings, log, fleet), fleet.origins),
    log,
  });
  // The tools report which policy they judged by.
  return Object.assign(handler, { policyVersion: fleet.version, policyClusters: fleet.clusters });
}
