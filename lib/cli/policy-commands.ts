/**
 * `admission-webhooks policy check FILE` and `policy show FILE [--cluster C] [--namespace N]`:
 * the policy file checked as packaging checks it, and the effective policy of one cluster and
 * namespace, written as the file would write it.
 */
import type { Config } from '../policies/fleet/config';
import { formatRegistryRule } from '../policies/images/image-reference';
import { type PolicyFileCheck, checkPolicyFile, problemLine } from './policy-file';
import { toYaml } from './report';

export const CHECK_VALID = 0;
export const CHECK_INVALID = 1;
export const CHECK_UNREADABLE = 2;

export interface CommandOutput {
  code: number;
  stdout: string;
  stderr: string;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

const unreadable = (check: PolicyFileCheck) => check.document === undefined && check.problems.some((problem) => problem.message.startsWith('cannot be read'));

/** `policy check`: every problem and warning, one line each; exit 0 valid, 1 invalid, 2 unreadable. */
export function policyCheck(file: string, now: number = Date.now()): CommandOutput {
  const check = checkPolicyFile(file, now);
  const warnings = check.warnings.map((warning) => `${problemLine(file, warning, 'warning')}\n`).join('');
  if (check.problems.length > 0) {
    const problems = check.problems.map((problem) => `${problemLine(file, problem)}\n`).join('');
    const code = unreadable(check) ? CHECK_UNREADABLE : CHECK_INVALID;
    return { code, stdout: '', stderr: `${problems}${warnings}${file}: ${code === CHECK_UNREADABLE ? 'not checked' : `invalid, ${plural(check.problems.length, 'problem')}`}\n` };
  }
  const policy = check.policy;
  const counts = policy ? `; ${plural(policy.clusters.size, 'cluster')}, ${plural(policy.exceptions.length, 'exception')}` : '';
  return { code: CHECK_VALID, stdout: `${file}: valid, version ${check.version}${counts}\n`, stderr: warnings };
}

/** The effective policy written as the policy file writes its fields. */
function effectiveFields(config: Config): Record<string, unknown> {
  return {
    allowedRegistries: config.allowedRegistries.map(formatRegistryRule),
    imagePullSecrets: config.imagePullSecrets.map(({ name, registries }) => (registries ? { name, registries: registries.map(formatRegistryRule) } : name)),
    imagePullSecretNamespaces: config.imagePullSecretNamespaces.all ? ['*'] : [...config.imagePullSecretNamespaces.names],
    defaultImagePullPolicy: config.defaultImagePullPolicy ?? null,
    imagePullPolicyMode: config.imagePullPolicyMode,
    validationAction: config.validationAction,
    exemptNamespaces: [...config.exemptNamespaces],
    imageMirrors: Object.fromEntries(config.imageMirrors.map(({ source, target }) => [formatRegistryRule(source), formatRegistryRule(target)])),
    disallowedTags: [...config.disallowedTags],
    requireDigest: config.requireDigest,
  };
}

/** `policy show`: the effective policy of a cluster (none: a caller the file does not name) in a namespace, and the version. */
export function policyShow(file: string, cluster: string | undefined, namespace: string | undefined, now: number = Date.now()): CommandOutput {
  const check = checkPolicyFile(file, now);
  const { fleet } = check;
  if (!fleet) {
    return { code: unreadable(check) ? CHECK_UNREADABLE : CHECK_INVALID, stdout: '', stderr: check.problems.map((problem) => `${problemLine(file, problem)}\n`).join('') };
  }
  const config = fleet.configFor(cluster, namespace);
  const named = cluster === undefined || fleet.clusters.includes(cluster);
  const stderr = named ? '' : `warning: ${file} names no cluster "${cluster}" (it has ${fleet.clusters.join(', ') || 'none'}): such a caller gets the defaults\n`;
  const origin = cluster === undefined ? undefined : fleet.origins.get(cluster);
  const document = {
    version: fleet.version,
    cluster: cluster ?? null,
    namespace: namespace ?? null,
    policy: {
      ...effectiveFields(config),
      ...(origin?.sourceIps ? { sourceIps: origin.sourceIps.map((block) => block.text) } : {}),
      ...(origin?.vpcEndpointIds ? { vpcEndpointIds: origin.vpcEndpointIds } : {}),
    },
    exceptions: config.exceptions.map(({ name, expires, endsAt, images }) => ({
      name,
      expires,
      active: now < endsAt,
      images: images.map(formatRegistryRule),
    })),
  };
  const header = `# ${file}, version ${fleet.version}: the effective policy for ${cluster === undefined ? 'a caller that matched no cluster' : `cluster ${cluster}`}${namespace === undefined ? '' : `, namespace ${namespace}`}\n`;
  return { code: CHECK_VALID, stdout: `${header}${toYaml(document)}`, stderr };
}
