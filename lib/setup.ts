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

export function authenticatorFor(webhook: string, config: Config, log: LogSink): Authenticate {
  if (!config.tokenSecretId) return createOpenAuth(log);
  return createCallerAuth({
    webhook,
    fetchVersion: secretsManagerFetcher(config.tokenSecretId),
    ttlMs: config.secretCacheTtlSeconds * 1000,
    log,
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
