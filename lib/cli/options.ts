/**
 * Command-line options of `admission-webhooks review`. Every configuration
 * variable of the webhooks (lib/policies/config.ts) has a flag of the same name in
 * kebab case (`ALLOWED_REGISTRIES` -> `--allowed-registries`); a flag wins
 * over the environment. Caller authentication is always off offline.
 */
import { parseArgs } from 'node:util';
import { type ConfigVariable, POLICY_VARIABLES } from '../policies/config';

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
}

export type Command = { command: 'help' } | { command: 'review'; options: ReviewOptions };

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

Runs every Kubernetes object in the manifests through the mutate and validate
webhooks, exactly as the Lambda functions handle them, and reports the result.

Input:
  -f, --filename PATH     a YAML or JSON file, a folder (read recursively for
                          .yaml, .yml and .json), or - for standard input;
                          repeatable; standard input when omitted
  -n, --namespace NAME    namespace for objects without one (default: default)

Output:
  -o, --output FORMAT     text (default) or json
      --diff              show a unified diff of each changed object instead of
                          the changed object
  -h, --help              show this help

Configuration (each flag overrides the environment variable of the same name):
${configFlagLines()}

Exit status: 0 every object allowed, 1 at least one denied, 2 unreadable
input, a bad command line or invalid configuration.
`;

const NAMESPACE = /^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$/;

export function parseCommand(argv: readonly string[], env: Readonly<Record<string, string | undefined>>): Command {
  const [command, ...rest] = argv;
  if (command === undefined || command === 'help' || command === '-h' || command === '--help') return { command: 'help' };
  if (command !== 'review') throw new UsageError(`unknown command "${command}": the command is "review"`);

  let parsed;
  try {
    parsed = parseArgs({
      args: [...rest],
      strict: true,
      allowPositionals: false,
      options: {
        filename: { type: 'string', short: 'f', multiple: true },
        namespace: { type: 'string', short: 'n' },
        output: { type: 'string', short: 'o' },
        diff: { type: 'boolean' },
        help: { type: 'boolean', short: 'h' },
        ...Object.fromEntries(CONFIG_FLAGS.map(({ flag }) => [flag, { type: 'string' as const }])),
      },
    });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const values: Record<string, unknown> = parsed.values;
  if (values.help) return { command: 'help' };

  const output = (values.output as string | undefined) ?? 'text';
  if (!OUTPUT_FORMATS.includes(output as OutputFormat)) {
    throw new UsageError(`--output must be one of ${OUTPUT_FORMATS.join(', ')}, got "${output}"`);
  }
  const namespace = (values.namespace as string | undefined) ?? 'default';
  if (!NAMESPACE.test(namespace)) throw new UsageError(`--namespace "${namespace}" is not a valid namespace name`);

  const overrides: Record<string, string> = {};
  for (const { flag, variable } of CONFIG_FLAGS) {
    const value = values[flag];
    if (typeof value === 'string') overrides[variable] = value;
  }
  return {
    command: 'review',
    options: {
      files: (values.filename as string[] | undefined) ?? [],
      namespace,
      output: output as OutputFormat,
      diff: values.diff === true,
      env: { ...env, ...overrides, WEBHOOK_TOKEN_SECRET_ID: '' },
    },
  };
}
