/**
 * Command lines of `admission-webhooks`: `review` (manifests through the webhooks, under the
 * policy file with `--policy`, or under the policy variables: each has a flag of the same name in
 * kebab case, `ALLOWED_REGISTRIES` -> `--allowed-registries`, which wins over the environment),
 * `policy check` and `policy show`. Caller authentication is always off offline; `--cluster`
 * names the cluster a review is judged for.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type ConfigVariable, POLICY_VARIABLES } from '../policies/fleet/config';

/** A flag for each policy variable (the others make no sense offline: there is no caller to authenticate). */
export const CONFIG_FLAGS: ReadonlyArray<{ flag: string; variable: ConfigVariable }> = POLICY_VARIABLES.map(({ variable }) => ({
  flag: variable.toLowerCase().replaceAll('_', '-'),
  variable,
}));

export const OUTPUT_FORMATS = ['text', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

export interface ReviewOptions {
  /** Files and folders to read; `-` is standard input. Empty means standard input. */
  files: string[];
  /** Namespace for documents without one. */
  namespace: string;
  output: OutputFormat;
  diff: boolean;
  /** The environment the handlers are built with: the process environment with the flags applied. */
  env: Record<string, string | undefined>;
  /** The cluster the objects are judged for (with a policy file). */
  cluster: string | undefined;
  /** The policy to compare with (`--compare OLD`): the environment its handlers are built with. */
  compareEnv: Record<string, string | undefined> | undefined;
}

export type Command =
  | { command: 'help' }
  | { command: 'review'; options: ReviewOptions }
  | { command: 'policy-check'; file: string }
  | { command: 'policy-show'; file: string; cluster: string | undefined; namespace: string | undefined };

/** A command line that cannot be understood; the message says why. */
export class UsageError extends Error {
  override name = 'UsageError';
}

function configFlagLines(): string {
  const flags = CONFIG_FLAGS.map(({ flag, variable }) => ({ text: `      --${flag} VALUE`, variable }));
  const width = Math.max(...flags.map(({ text }) => text.length)) + 2;
  return flags.map(({ text, variable }) => `${text.padEnd(width)}${variable}`).join('\n');
}

export const USAGE = `Usage: admission-webhooks review [-f FILE|FOLDER|-]... [options]
       admission-webhooks policy check FILE
       admission-webhooks policy show FILE [--cluster NAME] [--namespace NAME]

review: runs every Kubernetes object in the manifests through the mutate and
validate webhooks, exactly as the Lambda functions handle them, and reports
the result.

Input:
  -f, --filename PATH     a YAML or JSON file, a folder (read recursively for
                          .yaml, .yml and .json), or - for standard input;
                          repeatable; standard input when omitted
  -n, --namespace NAME    namespace for objects without one (default: default)

Policy:
      --policy FILE       judge under this policy file (policy.yaml), as the
                          deployed functions do
      --cluster NAME      as this cluster of the policy file would
      --compare OLD       review under both --policy and OLD and list every
                          object whose verdict or patch changes; exit 1 if one
                          goes from allowed to denied

Output:
  -o, --output FORMAT     text (default) or json
      --diff              show a unified diff of each changed object instead of
                          the changed object
  -h, --help              show this help

Configuration without a policy file (each flag overrides the environment
variable of the same name; not with --policy):
${configFlagLines()}

Exit status: 0 every object allowed (with --compare: nothing newly denied), 1
at least one denied (newly denied), 2 unreadable input, a bad command line or
an invalid policy or configuration.

policy check: validates a policy file; prints every problem as
file:line:column: field: message, and warnings for exceptions expired or
ending within 14 days. Exit status 0 valid, 1 invalid, 2 unreadable.

policy show: prints the effective policy for a cluster and a namespace (as a
review there gets it) and the policy version.
`;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

function parsed(args: readonly string[], options: NonNullable<ParseArgsConfig['options']>, positionals = false) {
  try {
    return parseArgs({ args: [...args], strict: true, allowPositionals: positionals, options });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function namespaceOption(value: unknown): string | undefined {
  if (typeof value !== 'string') return undefined;
  if (!NAMESPACE.test(value)) throw new UsageError(`--namespace "${value}" is not a valid namespace name`);
  return value;
}

function parsePolicyCommand(rest: readonly string[]): Command {
  const [action, ...args] = rest;
  if (action !== 'check' && action !== 'show') {
    throw new UsageError(`unknown policy command ${action === undefined ? '(none)' : `"${action}"`}: use "policy check FILE" or "policy show FILE"`);
  }
  const { values, positionals } = parsed(
    args,
    action === 'show' ? { cluster: { type: 'string' }, namespace: { type: 'string', short: 'n' }, help: { type: 'boolean', short: 'h' } } : { help: { type: 'boolean', short: 'h' } },
    true,
  );
  if (values.help) return { command: 'help' };
  const [file, ...extra] = positionals;
  if (file === undefined) throw new UsageError(`policy ${action} needs the policy file, e.g. policy ${action} policy.yaml`);
  if (extra.length > 0) throw new UsageError(`policy ${action} takes one file, got also ${extra.map((item) => `"${item}"`).join(', ')}`);
  if (action === 'check') return { command: 'policy-check', file };
  return { command: 'policy-show', file, cluster: values.cluster as string | undefined, namespace: namespaceOption(values.namespace) };
}

/** The policy variables cleared, POLICY_FILE set: a policy file is the one source of the policy. */
const withPolicyFile = (env: Readonly<Record<string, string | undefined>>, file: string) => ({ ...env, POLICY_FILE: file, WEBHOOK_TOKEN_SECRET_ID: '' });

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') return { command: 'help' };
  if (command === 'policy') return parsePolicyCommand(rest);
  if (command !== 'review') throw new UsageError(`unknown command "${command}": the commands are "review" and "policy"`);

  const { values } = parsed(rest, {
    filename: { type: 'string', short: 'f', multiple: true },
    namespace: { type: 'string', short: 'n' },
    output: { type: 'string', short: 'o' },
    diff: { type: 'boolean' },
    policy: { type: 'string' },
    cluster: { type: 'string' },
    compare: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
    ...Object.fromEntries(CONFIG_FLAGS.map(({ flag }) => [flag, { type: 'string' as const }])),
  });
  if (values.help) return { command: 'help' };

  const output = (values.output as string | undefined) ?? 'text';
  if (!OUTPUT_FORMATS.includes(output as OutputFormat)) {
    throw new UsageError(`--output must be one of ${OUTPUT_FORMATS.join(', ')}, got "${output}"`);
  }
  const namespace = namespaceOption(values.namespace) ?? 'default';

  const overrides: Record<string, string> = {};
  for (const { flag, variable } of CONFIG_FLAGS) {
    const value = values[flag];
    if (typeof value === 'string') overrides[variable] = value;
  }
  const policy = values.policy as string | undefined;
  const given = Object.keys(overrides).map((variable) => `--${variable.toLowerCase().replaceAll('_', '-')}`);
  if (policy !== undefined && given.length > 0) {
    throw new UsageError(`--policy and ${given.join(', ')} both set the policy: set ${given.length === 1 ? 'that field' : 'those fields'} in the policy file instead`);
  }
  for (const flag of ['cluster', 'compare'] as const) {
    if (values[flag] !== undefined && policy === undefined) throw new UsageError(`--${flag} needs --policy FILE: the policy file names the clusters and is what is compared`);
  }
  const compare = values.compare as string | undefined;
  return {
    command: 'review',
    options: {
      files: (values.filename as string[] | undefined) ?? [],
      namespace,
      output: output as OutputFormat,
      diff: values.diff === true,
      env: policy === undefined ? { ...env, ...overrides, WEBHOOK_TOKEN_SECRET_ID: '' } : withPolicyFile(env, policy),
      cluster: values.cluster as string | undefined,
      compareEnv: compare === undefined ? undefined : withPolicyFile(env, compare),
    },
  };
}
