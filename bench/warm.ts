/**
 * Warm, in-process measurements: the built bundles are loaded once and each
 * review is timed on its own (p50/p99), and the reviews per second over the
 * whole time box. The handlers' log line is written with console.log, which is
 * replaced by a no-op while measuring, so the figures leave out the terminal
 * but keep building the log record.
 */
import { createRequire } from 'node:module';
import { performance } from 'node:perf_hooks';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import { DEFAULTS } from '../lib/policies/fleet/config';
import { type Summary, summarise } from './stats';

export type Handler = (event: GatewayEvent) => Promise<GatewayResult>;

export interface WarmResult extends Summary {
  perSecond: number;
}

export interface MeasureOptions {
  /** Warm-up of each series before any is measured. */
  warmupMs: number;
  /** Measured time of each series, split into `rounds` turns taken in rotation. */
  durationMs: number;
  rounds: number;
  /** At least this many samples per series, however long that takes. */
  minSamples: number;
}

export const DEFAULT_MEASURE: MeasureOptions = { warmupMs: 300, durationMs: 1000, rounds: 10, minSamples: 200 };

export interface Series {
  name: string;
  handler: Handler;
  event: GatewayEvent;
}

/**
 * Variables of this machine that Lambda does not set and that change how `node` starts: with
 * NODE_EXTRA_CA_CERTS naming the system's 220 KB certificate bundle, every process parsed it at
 * start-up, 40-120 ms that swamped the cold-start figures and their floor alike.
 */
const NOT_ON_LAMBDA = ['NODE_EXTRA_CA_CERTS', 'NODE_OPTIONS'];

/** Configuration variables are cleared so the bundles run with the design's defaults and authentication off. */
export function defaultEnvironment(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const copy = { ...env };
  for (const name of [...Object.keys(DEFAULTS), ...NOT_ON_LAMBDA]) delete copy[name];
  return copy;
}

/**
 * Loads a built bundle's `handler` into this process with the default configuration (read once,
 * when the bundle initialises); the environment is restored afterwards.
 */
export function loadHandler(file: string): Handler {
  const names = Object.keys(DEFAULTS);
  const saved = names.map((name) => [name, process.env[name]] as const);
  for (const name of names) delete process.env[name];
  try {
    const loaded = createRequire(file)(file) as { handler?: Handler };
    if (typeof loaded.handler !== 'function') throw new Error(`${file} does not export a handler`);
    return loaded.handler;
  } finally {
    for (const [name, value] of saved) if (value !== undefined) process.env[name] = value;
  }
}

/** Runs `work` with console.log silenced; restores it afterwards. */
export async function withSilentConsole<T>(work: () => Promise<T>): Promise<T> {
  const original = console.log;
  console.log = () => {};
  try {
    return await work();
  } finally {
    console.log = original;
  }
}

/**
 * Times each series: a warm-up of each, then rounds taken in rotation (a, b, c, a, b, c, ...), each
 * review timed on its own. Rotating spreads any change in the machine's load over every series
 * alike, so the ratios between them hold even on a busy machine. Reviews per second count the
 * measured reviews over the measured time, timer reads included.
 */
export async function measureSeries(series: readonly Series[], options: MeasureOptions = DEFAULT_MEASURE): Promise<Map<string, WarmResult>> {
  for (const { handler, event } of series) {
    const warmupEnd = performance.now() + options.warmupMs;
    while (performance.now() < warmupEnd) await handler(event);
  }
  const samples = series.map(() => [] as number[]);
  const elapsed = series.map(() => 0);
  const roundMs = options.durationMs / options.rounds;
  const minPerRound = Math.ceil(options.minSamples / options.rounds);
  for (let round = 0; round < options.rounds; round += 1) {
    for (const [index, { handler, event }] of series.entries()) {
      const own = samples[index] as number[];
      const begin = performance.now();
      let end = begin;
      for (let count = 0; end - begin < roundMs || count < minPerRound; count += 1) {
        const started = performance.now();
        await handler(event);
        end = performance.now();
        own.push(end - started);
      }
      elapsed[index] = (elapsed[index] as number) + (end - begin);
    }
  }
  return new Map(
    series.map(({ name }, index) => {
      const own = samples[index] as number[];
      return [name, { ...summarise(own), perSecond: (own.length * 1000) / (elapsed[index] as number) }];
    }),
  );
}

