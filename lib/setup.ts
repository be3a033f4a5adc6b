/**
 * Wires a policy to its configuration and caller authentication at start-up.
 * Invalid configuration throws here, so the function fails to initialise with
 * a message naming the variable instead of answering wrongly.
 */
import type { AdmissionRequest } from './admission/admission-review';
import { type Authenticate, createCallerAuth, createOpenAuth } from './auth/caller-auth';
import { type Config, loadConfig } from './policies/config';
import { type LogSink, consoleSink } from './common/log';
import type { Decision } from './policies/decision';
import { secretsManagerFetcher } from './auth/secrets-manager';
import { createWebhookHandler } from './transport/webhook';

/**
 * Budget of the secret read begun at start-up (Lambda's init phase): as long as the longest
 * request budget, so a request that joins it is bounded by its own budget, never by this one.
 * Lambda freezes a provisioned instance right after init, maybe with this read under way; its
 * deadline runs on meanwhile, and a read that fails at the thaw is not counted (FROZEN_SLACK_MS).
 */
export const START_READ_BUDGET_MS = 5000;

/**
 * The caller authentication of one webhook. With a secret configured, loading the SDK and reading
 * the secret start at once, during Lambda's init phase, instead of inside the first request: the
 * first review no longer waits for them when it comes after init (provisioned concurrency), and
 * never waits longer than it would have (README "Performance", authenticated cold start).
 */
export function authenticatorFor(webhook: string, config: Config, log: LogSink): Authenticate {
  if (!config.tokenSecretId) return createOpenAuth(log);
  return createCallerAuth({
    webhook,
    fetchVersion: secretsManagerFetcher(config.tokenSecretId),
    ttlMs: config.secretCacheTtlSeconds * 1000,
    log,
    startBudgetMs: START_READ_BUDGET_MS,
  });
}

export function configuredHandler(
  name: string,
  policy: (request: AdmissionRequest, config: Config) => Decision,
  env: Readonly<Record<string, string | undefined>> = process.env,
  log: LogSink = consoleSink,
) {
  const config = loadConfig(env);
  return createWebhookHandler({
    name,
    policy: (request) => policy(request, config),
    authenticate: authenticatorFor(name, config, log),
    log,
  });
}
