/**
 * `admission-webhooks review`: reads manifests, reviews every object with the
 * webhook handlers and reports, all problems of one run together. Exit status:
 * 2 if any input could not be read or reviewed (everything else is still
 * reviewed and reported), a bad command line, invalid configuration or an
 * invalid policy file (nothing is reviewed); else 1 if something was denied
 * (with --compare: newly denied); else 0. `policy check` and `policy show`
 * (lib/cli/policy-commands.ts) have their own.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../policies/fleet/config';
import { type InputProblem, problemText, readManifests } from './manifests';
import { USAGE, UsageError, parseCommand } from './options';
import { jsonReport, textReport } from './report';
import { ReviewError, type ReviewResult, createReviewer } from './review';
import { type ReviewPair, changesOf, compareJson, compareText } from './compare';
import { type CommandOutput, policyCheck, policyShow } from './policy-commands';

export const EXIT_ALLOWED = 0;
export const EXIT_DENIED = 1;
export const EXIT_ERROR = 2;

export interface CliIo {
  env: Readonly<Record<string, string | undefined>>;
  stdout: (text: string) => void;
  stderr: (text: string) => void;
  /** Reads all of standard input. */
  readStdin: () => string;
  /** True when standard input is a terminal: then it is read only when asked for with `-f -`. */
  stdinIsTTY?: boolean;
}

const PROGRAM = 'admission-webhooks';

export async function run(argv: readonly string[], io: CliIo): Promise<number> {
  try {
    const command = parseCommand(argv, io.env);
    if (command.command === 'help') {
      io.stdout(USAGE);
      return EXIT_ALLOWED;
    }
    if (command.command === 'policy-check') return printed(policyCheck(command.file), io);
    if (command.command === 'policy-show') return printed(policyShow(command.file, command.cluster, command.namespace), io);
    const { options } = command;
    if (options.files.length === 0 && io.stdinIsTTY) {
      throw new UsageError('no manifests given: use -f FILE|FOLDER, or pipe them to standard input');
    }
    const review = createReviewer(options.env, options.namespace, options.cluster);
    const compared = options.compareEnv && createReviewer(options.compareEnv, options.namespace, options.cluster);
    if (options.cluster !== undefined && !review.policyClusters.includes(options.cluster)) {
      io.stderr(`${PROGRAM}: warning: the policy names no cluster "${options.cluster}" (it has ${review.policyClusters.join(', ') || 'none'}): judged as such a caller is, with the defaults\n`);
    }
    const { manifests, problems: readProblems } = readManifests(options.files, io.readStdin);
    // Nothing to review is an error: an empty pipe (a failed `helm template`) must not pass a CI gate.
    const nothing: InputProblem[] =
      manifests.length === 0 && readProblems.length === 0
        ? [{ source: options.files.length === 0 ? '<stdin>' : options.files.join(', '), reason: 'no Kubernetes object to review in the input' }]
        : [];
    const problems = [...readProblems, ...nothing];
    const results: ReviewResult[] = [];
    const pairs: ReviewPair[] = [];
    const reviewProblems: InputProblem[] = [];
    for (const manifest of manifests) {
      try {
        const result = await review(manifest);
        if (compared) pairs.push({ new: result, old: await compared(manifest) });
        results.push(result);
      } catch (error) {
        if (!(error instanceof ReviewError)) throw error;
        reviewProblems.push(error.problem);
      }
    }
    const errors = [...problems, ...reviewProblems];

    if (errors.length > 0) io.stderr(errors.map((problem) => `${PROGRAM}: ${problemText(problem)}\n`).join(''));
    if (compared && options.compareEnv) {
      const changes = changesOf(pairs);
      const policies = {
        new: { file: options.env.POLICY_FILE ?? '', version: review.policyVersion },
        old: { file: options.compareEnv.POLICY_FILE ?? '', version: compared.policyVersion },
      };
      io.stdout((options.output === 'json' ? compareJson : compareText)(changes, pairs.length, policies, errors));
      if (errors.length > 0) return EXIT_ERROR;
      return changes.some((change) => change.newlyDenied) ? EXIT_DENIED : EXIT_ALLOWED;
    }
    const policy = { version: review.policyVersion, file: options.env.POLICY_FILE, cluster: options.cluster };
    const report = options.output === 'json' ? jsonReport : textReport;
    io.stdout(report(results, errors, { diff: options.diff, policy }));
    if (errors.length > 0) return EXIT_ERROR;
    return results.some((result) => result.verdict === 'denied') ? EXIT_DENIED : EXIT_ALLOWED;
  } catch (error) {
    if (error instanceof UsageError) {
      io.stderr(`${PROGRAM}: ${error.message}\nRun "${PROGRAM} --help" for usage.\n`);
    } else if (error instanceof ConfigError) {
      io.stderr(error.message.split('\n').map((line) => `${PROGRAM}: ${line}\n`).join(''));
    } else {
      io.stderr(`${PROGRAM}: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    }
    return EXIT_ERROR;
  }
}

/** A policy command's output as it is: its lines start with `file:line:column`, as editors expect. */
function printed(output: CommandOutput, io: CliIo): number {
  if (output.stderr !== '') io.stderr(output.stderr);
  if (output.stdout !== '') io.stdout(output.stdout);
  return output.code;
}

/** Runs with the real process: arguments, environment, standard streams. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<number> {
  return run(argv, {
    env: process.env,
    stdout: (text) => process.stdout.write(text),
    stderr: (text) => process.stderr.write(text),
    readStdin: () => readFileSync(0, 'utf8'),
    stdinIsTTY: process.stdin.isTTY === true,
  });
}
