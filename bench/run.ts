/**
 * `npm run bench`: builds the bundles as deployed, then measures bundle size,
 * cold start, warm throughput and latency, and growth with the number of
 * containers. Prints readable tables and, last, one JSON line with every figure.
 * `--quick` shortens every time box (for a smoke run; the figures are noisier).
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Bundle, buildBundles } from './build';
import { coldStarts } from './cold-start';
import { fleetStarts } from './fleet-start';
import { originChecks } from './origin-check';
import { checkPolicyFile } from '../lib/cli/policy-file';
import { DEPLOYED, authColdStartFigures, authColdStartPartsTable, authColdStartTable, authenticatedColdStarts, buildAuthVariants } from './cold-start-auth';
import { runSectionInChild } from './in-process';
import { tutorialPayload } from './payloads';
import { costReport, measuredReviewLogBytes } from './cost';
import { httpSection } from './http';
import { TARGETS, type TargetCheck, marginalPerContainer, markdownTable, table as plainTable, verdict } from './report';
import { round } from './stats';
import { DEFAULT_MEASURE, type MeasureOptions, type WarmResult } from './warm';

function cpuModel(): string {
  try {
    const match = /^Model name:\s*(.+)$/m.exec(execFileSync('lscpu', { encoding: 'utf8' }));
    if (match?.[1]) return match[1].trim();
  } catch {
    // lscpu is not everywhere; fall back on what Node.js reads.
  }
  return cpus()[0]?.model ?? 'unknown';
}

const ms = (value: number) => round(value).toString();
const kb = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;

async function main(): Promise<void> {
  const quick = process.argv.includes('--quick');
  const markdown = process.argv.includes('--markdown');
  const table = markdown ? markdownTable : plainTable;
  const options: MeasureOptions = quick ? { warmupMs: 100, durationMs: 200, rounds: 4, minSamples: 20 } : DEFAULT_MEASURE;
  const machine = {
    cpus: availableParallelism(),
    cpuModel: cpuModel(),
    node: process.version,
    platform: `${process.platform}-${process.arch}`,
    loadAverage: round(loadavg()[0] ?? 0, 2),
  };
  console.log(
    `Machine: ${machine.cpus} CPUs, ${machine.cpuModel}, Node.js ${machine.node} (${machine.platform}), ` +
      `load average ${machine.loadAverage} at start${quick ? ', quick run' : ''}\n`,
  );

  const workDir = mkdtempSync(join(tmpdir(), 'webhook-bench-'));
  try {
    // Bundles
    const bundles = await buildBundles(workDir);
    const byName = Object.fromEntries(bundles.map((b) => [b.name, b])) as Record<Bundle['name'], Bundle>;
    console.log('Bundles (minified, Secrets Manager client inside, tree-shaken to GetSecretValue; zipped as serverless package zips them: deflate, level 1)');
    console.log(table(['function', 'bundle', 'zipped', 'zipped bytes'], bundles.map((b) => [b.name, kb(b.bytes), kb(b.zipBytes), b.zipBytes])));

    // Cold start
    const tutorial = tutorialPayload();
    const cold = coldStarts({ mutate: byName.mutate.file, validate: byName.validate.file }, tutorial.event, workDir, quick ? 15 : 21);
    console.log(`\nCold start: fresh node process answering the tutorial Pod, median of ${cold.runs} runs`);
    console.log(
      table(
        ['process', 'wall (spawn to exit)', 'over floor', 'require', 'first review', 'start to answer'],
        [
          ['node -e 0 (floor)', `${ms(cold.floorWallMs)} ms`, '', '', '', ''],
          ...Object.entries(cold.bundles).map(([name, c]) => [
            name,
            `${ms(c.wallMs)} ms`,
            `${ms(c.wallMs - cold.floorWallMs)} ms`,
            `${ms(c.initMs)} ms`,
            `${ms(c.firstReviewMs)} ms`,
            `${ms(c.answeredMs)} ms`,
          ]),
        ],
      ),
    );

    // A large fleet policy at start-up
    const policyJson = JSON.stringify(checkPolicyFile(join(process.cwd(), 'policy.yaml')).document);
    const fleet = fleetStarts(byName.validate.file, tutorial.event, policyJson, workDir, quick ? 9 : 21);
    console.log(`\nStart-up with a policy file: validate answering the tutorial Pod, median of ${fleet.runs} runs (policy of 200 clusters and 500 exceptions: ${kb(fleet.policyBytes)} of JSON)`);
    console.log(
      table(
        ['policy', 'wall (spawn to exit)', 'require', 'wall over no file'],
        (['noFile', 'defaultPolicy', 'largeFleet'] as const).map((name) => [
          { noFile: 'none (policy variables)', defaultPolicy: 'policy.yaml (as packaged)', largeFleet: '200 clusters, 500 exceptions' }[name],
          `${ms(fleet.wallMs[name])} ms`,
          `${ms(fleet.initMs[name])} ms`,
          `${ms(fleet.wallMs[name] - fleet.wallMs.noFile)} ms`,
        ]),
      ),
    );

    // Binding clusters to where they call from: its cost per review
    const origin = await originChecks(quick ? 2000 : 20_000, quick ? 5 : 15);
    console.log('\nOrigin check per review (a token already matched; 200 clusters bound to their addresses), median ns');
    console.log(
      table(
        ['authentication step', 'ns per review'],
        (['withoutBinding', 'unboundCluster', 'boundIpv4', 'boundIpv6'] as const).map((name) => [
          { withoutBinding: 'no cluster bound (the policy lists no sourceIps)', unboundCluster: 'a cluster the policy does not bind', boundIpv4: 'a bound cluster, from its IPv4 block', boundIpv6: 'a bound cluster, from its IPv6 block' }[name],
          Math.round(origin.nsPerReview[name]),
        ]),
      ),
    );

    // Authenticated cold start: variants of mutate side by side, and the deployed bundle
    const authVariants = [...(await buildAuthVariants(workDir)), { ...byName.mutate, name: DEPLOYED }];
    const authCold = await authenticatedColdStarts(authVariants, tutorial.event, workDir, quick ? 3 : 11);
    console.log(`\nAuthenticated cold start: the token checked against a local Secrets Manager, read at init, median of ${authCold.runs} runs (floor ${ms(authCold.floorWallMs)} ms)`);
    console.log(authColdStartTable(authCold, table));
    console.log('\nAuthenticated cold start, its parts (first require of each built-in counted apart)');
    console.log(authColdStartPartsTable(authCold, table));

    // Warm and growth, each in a fresh process of its own
    const files = { mutate: byName.mutate.file, validate: byName.validate.file };
    const warm = runSectionInChild('warm', files, options);
    const growth = runSectionInChild('growth', files, options);

    console.log('\nWarm, in process (built bundles; log line built but not written); floor = JSON.parse + JSON.stringify');
    console.log(
      table(
        ['payload', 'handler', 'answer', 'reviews/s', 'p50', 'p99', 'floor reviews/s', 'floor p50', 'x floor (p50)', 'x floor (reviews/s)'],
        warm.flatMap(({ payload, floor, handlers: results }) =>
          Object.entries(results).map(([name, r]) => [
            payload,
            name,
            r.outcome,
            Math.round(r.perSecond),
            `${ms(r.p50Ms)} ms`,
            `${ms(r.p99Ms)} ms`,
            Math.round(floor.perSecond),
            `${ms(floor.p50Ms)} ms`,
            r.ratio.toFixed(2),
            r.throughputRatio.toFixed(2),
          ]),
        ),
      ),
    );

    console.log('\nGrowth with the number of containers (p50 per review)');
    console.log(
      table(
        ['containers', 'mutate', 'per container', 'validate', 'per container', 'floor', 'per container'],
        growth.map(({ containers, floor, handlers: r }) => [
          containers,
          `${ms(r.mutate?.p50Ms ?? Number.NaN)} ms`,
          `${ms((r.mutate?.perContainerMs ?? Number.NaN) * 1000)} µs`,
          `${ms(r.validate?.p50Ms ?? Number.NaN)} ms`,
          `${ms((r.validate?.perContainerMs ?? Number.NaN) * 1000)} µs`,
          `${ms(floor.p50Ms)} ms`,
          `${ms((floor.p50Ms / containers) * 1000)} µs`,
        ]),
      ),
    );

    // Over HTTP, against an empty handler that writes the same log line
    const http = await httpSection(files, quick ? { requests: 500, repeats: 1 } : { requests: 4000, repeats: 3 });
    console.log(
      `\nWarm over HTTP: node:http on 127.0.0.1, ${http[0]?.requests} tutorial Pod reviews per handler from 16 connections; ` +
        'the empty handler writes the same log line and answers the same AdmissionReview',
    );
    console.log(
      table(
        ['handler', 'reviews/s', 'of the empty handler', 'errors'],
        http.map((r) => [r.name, Math.round(r.perSecond), `${Math.round(r.ratio * 100)}%`, r.errors]),
      ),
    );

    // Cost, from the slowest warm p99 (Lambda bills each invocation rounded up to 1 ms)
    const durationMs = round(Math.max(...warm.flatMap((row) => Object.values(row.handlers).map((r) => r.p99Ms))));
    const reviewLogBytes = measuredReviewLogBytes();
    console.log(`\n${costReport({ durationMs, reviewLogBytes }, markdown)}`);

    // Targets
    const checks: TargetCheck[] = [];
    for (const b of bundles) {
      checks.push({ target: `${b.name} zipped bundle <= ${kb(TARGETS.zipBytesMax)}`, value: kb(b.zipBytes), met: b.zipBytes <= TARGETS.zipBytesMax });
    }
    for (const [name, c] of Object.entries(cold.bundles)) {
      const over = c.wallMs - cold.floorWallMs;
      checks.push({ target: `${name} cold start <= floor + ${TARGETS.coldStartOverFloorMsMax} ms`, value: `+${ms(over)} ms`, met: over <= TARGETS.coldStartOverFloorMsMax });
    }
    const deployedAuth = authCold.variants.find((v) => v.name === DEPLOYED);
    if (deployedAuth) {
      const over = deployedAuth.onDemand.wallMs - authCold.floorWallMs;
      const max = TARGETS.authenticatedColdStartOverFloorMsMax;
      checks.push({ target: `mutate authenticated cold start <= floor + ${max} ms`, value: `+${ms(over)} ms`, met: over <= max });
    }
    for (const { payload, handlers: results } of warm) {
      for (const [name, r] of Object.entries(results)) {
        checks.push({ target: `${name} warm, ${payload}: p50 <= ${TARGETS.warmRatioMax}x floor`, value: `${round(r.ratio, 2)}x`, met: r.ratio <= TARGETS.warmRatioMax });
      }
    }
    for (const r of http.filter((result) => result.name !== 'empty')) {
      checks.push({ target: `${r.name} over HTTP >= ${TARGETS.httpRatioMin * 100}% of the empty handler's reviews/s`, value: `${Math.round(r.ratio * 100)}%`, met: r.ratio >= TARGETS.httpRatioMin });
    }
    for (const [name, r] of Object.entries(warm[0]?.handlers ?? {})) {
      checks.push({ target: `${name} tutorial Pod p99 < ${TARGETS.tutorialP99MsMax} ms`, value: `${ms(r.p99Ms)} ms`, met: r.p99Ms < TARGETS.tutorialP99MsMax });
    }
    const at = (containers: number, name: string) => ({ containers, ms: growth.find((g) => g.containers === containers)?.handlers[name]?.p50Ms ?? Number.NaN });
    const linearity: Record<string, { marginal10to100Us: number; marginal100to1000Us: number; ratio: number }> = {};
    for (const name of Object.keys(files)) {
      const low = marginalPerContainer(at(10, name), at(100, name));
      const high = marginalPerContainer(at(100, name), at(1000, name));
      linearity[name] = { marginal10to100Us: round(low * 1000), marginal100to1000Us: round(high * 1000), ratio: round(high / low, 2) };
      checks.push({
        target: `${name} linear in containers (marginal cost 100->1000 <= ${TARGETS.marginalSlopeRatioMax}x 10->100)`,
        value: `${ms(low * 1000)} -> ${ms(high * 1000)} µs/container`,
        met: high / low <= TARGETS.marginalSlopeRatioMax,
      });
    }
    console.log('\nTargets');
    console.log(table(['target', 'value', 'verdict'], checks.map((c) => [c.target, c.value, verdict(c.met)])));

    const summary = (r: WarmResult) => ({ perSecond: Math.round(r.perSecond), p50Ms: round(r.p50Ms), p99Ms: round(r.p99Ms), samples: r.samples });
    const figures = {
      machine,
      quick,
      bundle: Object.fromEntries(bundles.map((b) => [b.name, { bytes: b.bytes, zipBytes: b.zipBytes }])),
      coldStart: {
        runs: cold.runs,
        floorWallMs: round(cold.floorWallMs),
        ...Object.fromEntries(
          Object.entries(cold.bundles).map(([name, c]) => [
            name,
            {
              wallMs: round(c.wallMs),
              overFloorMs: round(c.wallMs - cold.floorWallMs),
              initMs: round(c.initMs),
              firstReviewMs: round(c.firstReviewMs),
              answeredMs: round(c.answeredMs),
            },
          ]),
        ),
      },
      authenticatedColdStart: authColdStartFigures(authCold),
      originCheckNsPerReview: Object.fromEntries(Object.entries(origin.nsPerReview).map(([name, ns]) => [name, Math.round(ns)])),
      fleetStart: { runs: fleet.runs, policyBytes: fleet.policyBytes, wallMs: fleet.wallMs, initMs: fleet.initMs, largeFleetOverNoFileMs: round(fleet.wallMs.largeFleet - fleet.wallMs.noFile) },
      warm: warm.map(({ payload, floor, handlers: results }) => ({
        payload,
        floor: summary(floor),
        ...Object.fromEntries(Object.entries(results).map(([name, r]) => [name, { ...summary(r), ratio: round(r.ratio), throughputRatio: round(r.throughputRatio), outcome: r.outcome }])),
      })),
      growth: growth.map(({ containers, floor, handlers: results }) => ({
        containers,
        floor: { ...summary(floor), perContainerUs: round((floor.p50Ms / containers) * 1000) },
        ...Object.fromEntries(
          Object.entries(results).map(([name, r]) => [name, { ...summary(r), perContainerUs: round(r.perContainerMs * 1000) }]),
        ),
      })),
      linearity,
      http: http.map((r) => ({ name: r.name, requests: r.requests, perSecond: Math.round(r.perSecond), ratio: round(r.ratio) })),
      cost: { durationMs, reviewLogBytes },
      targets: checks,
    };
    console.log(`\n${JSON.stringify(figures)}`);
  } finally {
    rmSync(workDir, { recursive: true, force: true });
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
