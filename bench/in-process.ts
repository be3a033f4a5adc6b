/**
 * The in-process sections (warm and growth). Each runs in a fresh Node.js process of its own
 * (`node <tsx flags> bench/in-process.ts <section> <options JSON> <mutate.js> <validate.js>`), so
 * that the heap and the compiled code one section leaves behind cannot bend the next one's
 * figures; it writes one JSON line with its results to stdout.
 */
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Bundle } from './build';
import { floorHandler } from './floor';
import { type Payload, deploymentPayload, podPayload, tutorialPayload } from './payloads';
import { type Handler, type MeasureOptions, type Series, type WarmResult, loadHandler, measureSeries, withSilentConsole } from './warm';

export const GROWTH_SIZES = [1, 10, 100, 1000] as const;

export type BundleFiles = Record<Bundle['name'], string>;

export interface WarmRow {
  payload: string;
  floor: WarmResult;
  /**
   * `ratio` is the handler's p50 over the floor's p50 (robust to other work on the machine);
   * `throughputRatio` the floor's reviews per second over the handler's.
   */
  handlers: Record<string, WarmResult & { outcome: string; ratio: number; throughputRatio: number }>;
}

export interface GrowthRow {
  containers: number;
  floor: WarmResult;
  handlers: Record<string, WarmResult & { perContainerMs: number }>;
}

/** One first answer per handler and payload, to make sure the benchmark measures real work. */
export async function outcome(handler: Handler, payload: Payload): Promise<string> {
  const result = await handler(payload.event);
  if (result.statusCode !== 200) throw new Error(`${payload.name}: status ${result.statusCode}: ${result.body}`);
  const response = JSON.parse(result.body).response;
  if (!response.allowed) return 'denied';
  return response.patch ? `patched (${JSON.parse(Buffer.from(response.patch, 'base64').toString()).length} ops)` : 'allowed';
}

/** The floor and each handler on the same event, as series of one rotation. */
function seriesFor(prefix: string, handlers: Record<string, Handler>, payload: Payload): Series[] {
  return [
    { name: `${prefix}floor`, handler: floorHandler, event: payload.event },
    ...Object.entries(handlers).map(([name, handler]) => ({ name: `${prefix}${name}`, handler, event: payload.event })),
  ];
}

/** Warm figures for the tutorial Pod, a Pod of 30 containers and a Deployment: per payload, the floor and both handlers in rotation. */
export async function warmSection(handlers: Record<string, Handler>, options: MeasureOptions): Promise<WarmRow[]> {
  const rows: WarmRow[] = [];
  for (const payload of [tutorialPayload(), podPayload(30), deploymentPayload()]) {
    const answers: Record<string, string> = {};
    for (const [name, handler] of Object.entries(handlers)) answers[name] = await outcome(handler, payload);
    const measured = await withSilentConsole(() => measureSeries(seriesFor('', handlers, payload), options));
    const floor = measured.get('floor') as WarmResult;
    const results: WarmRow['handlers'] = {};
    for (const name of Object.keys(handlers)) {
      const result = measured.get(name) as WarmResult;
      results[name] = {
        ...result,
        outcome: answers[name] ?? '',
        ratio: result.p50Ms / floor.p50Ms,
        throughputRatio: floor.perSecond / result.perSecond,
      };
    }
    rows.push({ payload: payload.name, floor, handlers: results });
  }
  return rows;
}

/** Time per review for Pods of 1 to 1,000 containers: every size and handler in one rotation. */
export async function growthSection(handlers: Record<string, Handler>, options: MeasureOptions): Promise<GrowthRow[]> {
  const payloads = GROWTH_SIZES.map((size) => podPayload(size));
  for (const payload of payloads) for (const handler of Object.values(handlers)) await outcome(handler, payload);
  const measured = await withSilentConsole(() =>
    measureSeries(
      payloads.flatMap((payload) => seriesFor(`${payload.containers}/`, handlers, payload)),
      options,
    ),
  );
  return GROWTH_SIZES.map((size) => {
    const results: GrowthRow['handlers'] = {};
    for (const name of Object.keys(handlers)) {
      const result = measured.get(`${size}/${name}`) as WarmResult;
      results[name] = { ...result, perContainerMs: result.p50Ms / size };
    }
    return { containers: size, floor: measured.get(`${size}/floor`) as WarmResult, handlers: results };
  });
}

const SECTIONS = { warm: warmSection, growth: growthSection } as const;
export type SectionName = keyof typeof SECTIONS;

/** Runs one section in a fresh process (with the loader flags this process was started with) and returns its results. */
export function runSectionInChild<S extends SectionName>(
  section: S,
  bundles: BundleFiles,
  options: MeasureOptions,
): Awaited<ReturnType<(typeof SECTIONS)[S]>> {
  const self = fileURLToPath(import.meta.url);
  const args = [...process.execArgv, self, section, JSON.stringify(options), bundles.mutate, bundles.validate];
  const child = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 64 * 1024 * 1024 });
  if (child.status !== 0) throw new Error(`the ${section} section failed (exit ${child.status})`);
  const line = child.stdout.trim().split('\n').at(-1) ?? '';
  return JSON.parse(line);
}

async function childMain(section: SectionName, optionsJson: string, mutateFile: string, validateFile: string): Promise<void> {
  const handlers = { mutate: loadHandler(mutateFile), validate: loadHandler(validateFile) };
  const results = await SECTIONS[section](handlers, JSON.parse(optionsJson) as MeasureOptions);
  process.stdout.write(`${JSON.stringify(results)}\n`);
}

const [, script, section, optionsJson, mutateFile, validateFile] = process.argv;
if (script === fileURLToPath(import.meta.url) && section && optionsJson && mutateFile && validateFile) {
  if (!(section in SECTIONS)) throw new Error(`unknown section ${section}`);
  childMain(section as SectionName, optionsJson, mutateFile, validateFile).catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
