/**
 * `npm run bench:review`: the offline review command (`admission-webhooks review`) from a cold
 * process, as a CI job runs it: `node bin/admission-webhooks.cjs review -f ...` (the prebuilt
 * bundle; the npm script builds it first), for one small file and for a folder of 100 manifests.
 * Each case runs `--runs` times (default 15) after one unmeasured run; prints the median, the
 * fastest and the slowest wall time, and `node -e ''` alone for the floor. Not part of `npm test`.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { round, summarise } from './stats';

const ROOT = resolve(import.meta.dirname, '..');
const BIN = join(ROOT, 'bin', 'admission-webhooks.cjs');
const SMALL_FILE = join(ROOT, 'test/fixtures/corpus/pods/simple-pod.yaml');
/** Workload manifests of the corpus, repeated to fill the folder. */
const FOLDER_SOURCES = ['pods/simple-pod.yaml', 'application/nginx-app.yaml', 'controllers/nginx-deployment.yaml', 'pods/pod-nginx.yaml'];

/** Wall time of one run of `args` in a new node process, in milliseconds; throws on an unexpected exit. */
function timeRun(args: readonly string[], expectedCodes: readonly number[]): number {
  const started = process.hrtime.bigint();
  const result = spawnSync(process.execPath, args, { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'] });
  const elapsed = Number(process.hrtime.bigint() - started) / 1e6;
  if (!expectedCodes.includes(result.status ?? -1)) throw new Error(`node ${args.join(' ')} exited with ${result.status}: ${result.stderr}`);
  return elapsed;
}

function measure(label: string, args: readonly string[], runs: number, expectedCodes: readonly number[]) {
  timeRun(args, expectedCodes); // file cache and the like
  const samples = Array.from({ length: runs }, () => timeRun(args, expectedCodes));
  const sorted = [...samples].sort((a, b) => a - b);
  const { p50Ms } = summarise(samples);
  return { case: label, runs, medianMs: round(p50Ms), minMs: round(sorted[0]!), maxMs: round(sorted.at(-1)!) };
}

function main(): void {
  const { values } = parseArgs({ options: { runs: { type: 'string', default: '15' } } });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1) throw new Error(`--runs must be a whole number above 0, got ${values.runs}`);

  const folder = mkdtempSync(join(tmpdir(), 'admission-webhooks-bench-review-'));
  try {
    for (let index = 0; index < 100; index++) {
      const source = FOLDER_SOURCES[index % FOLDER_SOURCES.length]!;
      writeFileSync(join(folder, `manifest-${String(index).padStart(3, '0')}.yaml`), readFileSync(join(ROOT, 'test/fixtures/corpus', source)));
    }
    const rows = [
      measure('node -e "" (the floor: Node.js start-up alone)', ['-e', ''], runs, [0]),
      measure('review -f simple-pod.yaml (1 object)', [BIN, 'review', '-f', SMALL_FILE], runs, [1]),
      measure('review -f <folder of 100 manifests>', [BIN, 'review', '-f', folder], runs, [1]),
      measure('review -f <folder of 100 manifests> -o json', [BIN, 'review', '-f', folder, '-o', 'json'], runs, [1]),
    ];
    console.log(`review command, cold process, ${runs} runs each (Node.js ${process.version}, load average ${round(loadavg()[0] ?? 0, 2)})`);
    console.log('| case | median | fastest | slowest |\n| --- | --- | --- | --- |');
    for (const row of rows) console.log(`| ${row.case} | ${row.medianMs} ms | ${row.minMs} ms | ${row.maxMs} ms |`);
    console.log(JSON.stringify({ reviewCommand: rows }));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}

main();
