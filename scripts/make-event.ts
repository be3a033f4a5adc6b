/**
 * Turns a workload manifest into a saved API Gateway event for
 * `serverless invoke local`, like the ones in events/:
 *
 *   npx tsx scripts/make-event.ts <mutate|validate> <manifest.yaml> [--namespace ns]
 *     [--operation CREATE|UPDATE] [--http-api] [--base64] [--all] [-o out.json]
 *
 * The event carries an AdmissionReview (`admission.k8s.io/v1`) shaped like the
 * one an API server sends: `request.namespace` from `--namespace`, else the
 * object's `metadata.namespace`, else `default`; the object as written (no
 * `metadata.namespace` is added); for UPDATE the old object is the object
 * itself, as for a re-apply that changes nothing. Without `--all` only the first
 * workload document (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job,
 * CronJob, ReplicationController, PodTemplate) is used; with it, every one, as a
 * JSON array on stdout or as numbered files `out-1.json`, `out-2.json`, ...
 * A manifest of `-` is read from stdin. Usage errors, unreadable files and bad
 * YAML exit with status 2.
 */
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';
import {
  type AdmissionOperation,
  type GatewayEventOptions,
  OPERATIONS,
  type RequestOptions,
  admissionEvent,
  groupVersionKind,
  namespaceOf,
} from '../lib/transport/admission-event';
import type { GatewayEvent } from '../lib/transport/http';
import { type JsonObject, isObject } from '../lib/common/json';
import { podSpecPath } from '../lib/policies/pod-spec';

export const FUNCTIONS = ['mutate', 'validate'] as const;
export type FunctionName = (typeof FUNCTIONS)[number];

export const USAGE = `usage: make-event <mutate|validate> <manifest.yaml> [--namespace|-n ns] [--operation CREATE|UPDATE]
                  [--http-api] [--base64] [--all] [-o out.json]`;

/** A problem with the command line or its input; the command exits with status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** Whether the object is of a kind whose pod spec the webhooks look at. */
export function isWorkload(object: unknown): object is JsonObject {
  if (!isObject(object) || typeof object.kind !== 'string') return false;
  return podSpecPath(groupVersionKind(object).group, object.kind) !== undefined;
}

/**
 * The workload documents of a YAML stream, in order. Throws a UsageError for
 * YAML that does not parse (naming `source` and the first error) and for a
 * stream without any workload document.
 */
export function workloadDocuments(text: string, source = 'manifest'): JsonObject[] {
  const documents = parseAllDocuments(text);
  for (const document of documents) {
    const [error] = document.errors;
    if (error) throw new UsageError(`${source} is not valid YAML: ${error.message.split('\n')[0]?.replace(/:$/, '')}`);
  }
  const workloads = documents.map((document) => document.toJS() as unknown).filter(isWorkload);
  if (workloads.length === 0) {
    throw new UsageError(
      `${source} has no workload document (Pod, Deployment, ReplicaSet, StatefulSet, DaemonSet, Job, CronJob, ReplicationController or PodTemplate)`,
    );
  }
  return workloads;
}

/**
 * The event for one workload object. A `namespace` (from `--namespace`) that
 * contradicts the manifest's own is refused, as kubectl refuses it.
 */
export function makeEvent(fn: FunctionName, object: JsonObject, options: RequestOptions & GatewayEventOptions = {}): GatewayEvent {
  // Workloads are namespaced: namespaceOf gives the manifest's own namespace where it has one.
  const namespace = namespaceOf(object, options.namespace ?? 'default');
  if (options.namespace !== undefined && namespace !== options.namespace) {
    throw new UsageError(`the namespace from the manifest (${namespace}) does not match the namespace ${options.namespace}`);
  }
  return admissionEvent(fn, object, options);
}

export interface CliOptions {
  fn: FunctionName;
  manifest: string;
  namespace?: string;
  operation: AdmissionOperation;
  httpApi: boolean;
  base64: boolean;
  all: boolean;
  output?: string;
}

/** Parses the command line (without `node` and the script); throws a UsageError. */
export function parseArguments(argv: readonly string[]): CliOptions {
  const positional: string[] = [];
  const flags = { httpApi: false, base64: false, all: false };
  let namespace: string | undefined;
  let operation: AdmissionOperation = 'CREATE';
  let output: string | undefined;
  const valueOf = (index: number, flag: string): string => {
    const value = argv[index];
    if (value === undefined || value === '' || value.startsWith('-')) throw new UsageError(`${flag} needs a value`);
    return value;
  };
  for (let index = 0; index < argv.length; index++) {
    const arg = argv[index] as string;
    const [flag, inline] = arg.startsWith('--') && arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const take = (): string => (inline !== undefined ? inline : valueOf(++index, flag));
    switch (flag) {
      case '--namespace':
      case '-n':
        namespace = take();
        break;
      case '--operation': {
        const value = take().toUpperCase();
        if (!OPERATIONS.includes(value as AdmissionOperation)) throw new UsageError(`--operation must be CREATE or UPDATE, got "${value}"`);
        operation = value as AdmissionOperation;
        break;
      }
      case '--http-api':
        flags.httpApi = true;
        break;
      case '--base64':
        flags.base64 = true;
        break;
      case '--all':
        flags.all = true;
        break;
      case '-o':
      case '--output':
        output = take();
        break;
      default:
        if (arg.startsWith('-') && arg !== '-') throw new UsageError(`unknown option ${arg}`);
        positional.push(arg);
    }
  }
  const [fn, manifest, ...extra] = positional;
  if (fn === undefined) throw new UsageError('the function is missing: give mutate or validate, then the manifest file');
  if (!FUNCTIONS.includes(fn as FunctionName)) throw new UsageError(`unknown function "${fn}": use mutate or validate`);
  if (manifest === undefined) throw new UsageError('the manifest is missing: give a YAML file after the function (- for standard input)');
  if (extra.length > 0) throw new UsageError(`one manifest at a time: "${extra.join('" "')}" is one argument too many`);
  return { fn: fn as FunctionName, manifest, operation, ...flags, ...(namespace ? { namespace } : {}), ...(output ? { output } : {}) };
}

/** `out.json` -> `out-2.json`, for the second of several events. */
export function numberedPath(output: string, number: number): string {
  const match = /^(.*?)(\.json)?$/i.exec(output);
  return `${match?.[1] ?? output}-${number}${match?.[2] ?? '.json'}`;
}

export interface Io {
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  readFile: (path: string) => string;
  writeFile: (path: string, text: string) => void;
}

const processIo: Io = {
  stdout: (text) => process.stdout.write(text),
  stderr: (text) => process.stderr.write(text),
  readFile: (path) => readFileSync(path === '-' ? 0 : path, 'utf8'),
  writeFile: (path, text) => {
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  },
};

const FILE_ERRORS: Record<string, string> = {
  ENOENT: 'no such file or directory',
  EISDIR: 'it is a directory',
  EACCES: 'permission denied',
  ENOTDIR: 'a part of the path is not a directory',
};

function reason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException).code;
  const known = code ? FILE_ERRORS[code] : undefined;
  return known ? `${known} (${code})` : error instanceof Error ? error.message : String(error);
}

/** Runs the command; returns the exit status (0, or 2 for usage and input errors). */
export function main(argv: readonly string[], io: Io = processIo): number {
  try {
    if (argv.includes('--help') || argv.includes('-h')) {
      io.stdout(`${USAGE}\n`);
      return 0;
    }
    const cli = parseArguments(argv);
    let text: string;
    try {
      text = io.readFile(cli.manifest);
    } catch (error) {
      throw new UsageError(`cannot read ${cli.manifest}: ${reason(error)}`);
    }
    const documents = workloadDocuments(text, cli.manifest);
    const events = (cli.all ? documents : documents.slice(0, 1)).map((object) =>
      makeEvent(cli.fn, object, { namespace: cli.namespace, operation: cli.operation, httpApi: cli.httpApi, base64: cli.base64 }),
    );
    const serialise = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;
    if (cli.output === undefined) {
      io.stdout(serialise(cli.all ? events : events[0]));
      return 0;
    }
    const targets = cli.all ? events.map((_, index) => numberedPath(cli.output as string, index + 1)) : [cli.output];
    for (const [index, target] of targets.entries()) {
      try {
        io.writeFile(target, serialise(events[index]));
      } catch (error) {
        throw new UsageError(`cannot write ${target}: ${reason(error)}`);
      }
      io.stderr(`wrote ${target}\n`);
    }
    return 0;
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    io.stderr(`make-event: ${error.message}\n${USAGE}\n`);
    return 2;
  }
}

function isEntryPoint(): boolean {
  const script = process.argv[1];
  if (!script) return false;
  try {
    return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isEntryPoint()) process.exitCode = main(process.argv.slice(2));
