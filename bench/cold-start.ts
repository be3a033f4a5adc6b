/**
 * Cold starts: a fresh `node` process per run that loads a bundle and answers
 * one review, timed from spawn to exit by this process and, inside the child,
 * around `require` (module initialisation) and the first review. The floor is
 * a fresh `node -e 0`. Runs are interleaved (floor, mutate, validate, floor, ...)
 * so that drift in the machine's load hits every series alike.
 */
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { GatewayEvent } from '../lib/transport/http';
import { median } from './stats';
import { defaultEnvironment } from './warm';

const CHILD = join(dirname(fileURLToPath(import.meta.url)), 'cold-start-child.cjs');

/** One cold start; `wallMs` is spawn to exit, the other times are taken inside the child. */
export interface ColdSample {
  wallMs: number;
  /** Time of `require(bundle)`. */
  initMs: number;
  firstReviewMs: number;
  /** From the child's process start to the answer. */
  answeredMs: number;
  statusCode: number;
  allowed: boolean;
}

/** The median of each time over `runs` samples, with the first sample's answer. */
export type ColdResult = ColdSample & { runs: number };

function timedSpawn(args: readonly string[], env: NodeJS.ProcessEnv): { wallMs: number; stderr: string } {
  const started = performance.now();
  const child = spawnSync(process.execPath, args, { env, stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
  const wallMs = performance.now() - started;
  if (child.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${child.status}: ${child.stderr}`);
  return { wallMs, stderr: child.stderr };
}

export function floorRun(env: NodeJS.ProcessEnv): number {
  return timedSpawn(['-e', '0'], env).wallMs;
}

export function bundleRun(bundle: string, eventFile: string, env: NodeJS.ProcessEnv): ColdSample {
  const { wallMs, stderr } = timedSpawn([CHILD, bundle, eventFile], env);
  const line = stderr.trim().split('\n').at(-1) ?? '';
  const report = JSON.parse(line) as Omit<ColdSample, 'wallMs'> & { error?: string };
  if (report.error) throw new Error(`cold start of ${bundle} failed: ${report.error}`);
  return { wallMs, ...report };
}

function summariseCold(samples: readonly ColdSample[]): ColdResult {
  const first = samples[0] as ColdSample;
  return {
    runs: samples.length,
    wallMs: median(samples.map((s) => s.wallMs)),
    initMs: median(samples.map((s) => s.initMs)),
    firstReviewMs: median(samples.map((s) => s.firstReviewMs)),
    answeredMs: median(samples.map((s) => s.answeredMs)),
    statusCode: first.statusCode,
    allowed: first.allowed,
  };
}

export interface ColdStartReport {
  runs: number;
  floorWallMs: number;
  bundles: Record<string, ColdResult>;
}

/**
 * `runs` measured rounds after `warmupRuns` discarded ones (which fill the file
 * cache); each round runs the floor and every bundle once.
 */
export function coldStarts(
  bundles: Readonly<Record<string, string>>,
  event: GatewayEvent,
  workDir: string,
  runs = 21,
  warmupRuns = 2,
): ColdStartReport {
  const eventFile = join(workDir, 'cold-start-event.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const env = defaultEnvironment();
  const floors: number[] = [];
  const samples: Record<string, ColdSample[]> = Object.fromEntries(Object.keys(bundles).map((name) => [name, []]));
  for (let round = 0; round < warmupRuns + runs; round += 1) {
    const floor = floorRun(env);
    const results = Object.entries(bundles).map(([name, file]) => [name, bundleRun(file, eventFile, env)] as const);
    if (round < warmupRuns) continue;
    floors.push(floor);
    for (const [name, sample] of results) samples[name]?.push(sample);
  }
  return {
    runs,
    floorWallMs: median(floors),
    bundles: Object.fromEntries(Object.entries(samples).map(([name, list]) => [name, summariseCold(list)])),
  };
}
