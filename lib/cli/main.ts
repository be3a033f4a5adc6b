/**
 * `admission-webhooks review`: reads manifests, reviews every object with the
 * webhook handlers and reports, all problems of one run together. Exit status:
 * 2 if any input could not be read or reviewed (everything else is still
 * reviewed and reported), a bad command line or invalid configuration (nothing
 * is reviewed); else 1 if something was denied; else 0.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from '../policies/config';
import { type InputProblem, problemText, readManifests } from './manifests';
import { USAGE, UsageError, parseCommand } from './options';
import { jsonReport, textReport } from './report';
import { ReviewError, type ReviewResult, createReviewer } from './review';

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
    const { options } = command;
    if (options.files.length === 0 && io.stdinIsTTY) {
      throw new UsageError('no manifests given: use -f FILE|FOLDER, or pipe them to standard input');
    }
    const review = createReviewer(options.env, options.namespace);
    const { manifests, problems } = readManifests(options.files, io.readStdin);
    const results: ReviewResult[] = [];
    const reviewProblems: InputProblem[] = [];
    for (const manifest of manifests) {
      try {
        results.push(await review(manifest));
      } catch (error) {
        if (!(error instanceof ReviewError)) throw error;
        reviewProblems.push(error.problem);
      }
    }
    const errors = [...problems, ...reviewProblems];

    if (errors.length > 0) io.stderr(errors.map((problem) => `${PROGRAM}: ${problemText(problem)}\n`).join(''));
    const report = options.output === 'json' ? jsonReport : textReport;
    io.stdout(report(results, errors, { diff: options.diff }));
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
