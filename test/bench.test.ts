/** Behaviour of the benchmark's helpers (bench/); no timing is asserted here. */
import { mkdtempSync, rmSync } from 'node:fs';
import { inflateRawSync } from 'node:zlib';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { buildBundles, deployedBuildOptions } from '../bench/build';
import { floorHandler } from '../bench/floor';
import { largeFleetPolicy } from '../bench/fleet-start';
import { originChecks } from '../bench/origin-check';
import { checkPolicyDocument } from '../lib/policies/fleet/policy-document';
import { deployment, deploymentPayload, podPayload, podWithContainers, tutorialPayload } from '../bench/payloads';
import { marginalPerContainer, markdownTable, table } from '../bench/report';
import { median, quantile, round, summarise } from '../bench/stats';
import { loadHandler, measureSeries, withSilentConsole } from '../bench/warm';
import { crc32, zipOneFile } from '../bench/zip';

describe('fleet start-up', () => {
  it('measures a valid fleet of 200 clusters and 500 exceptions', () => {
    const document = largeFleetPolicy();
    const { policy, problems } = checkPolicyDocument(document);
    expect(problems).toEqual([]);
    expect(policy?.clusters.size).toBe(200);
    expect(policy?.exceptions).toHaveLength(500);
    expect([...(policy?.clusters.values() ?? [])].every((layer) => layer.origin.sourceIps?.length === 3)).toBe(true);
  });

  it('times the origin check of a review along each path it can take', async () => {
    const { nsPerReview } = await originChecks(10, 1);
    expect(Object.keys(nsPerReview)).toEqual(['withoutBinding', 'unboundCluster', 'boundIpv4', 'boundIpv6']);
    for (const ns of Object.values(nsPerReview)) expect(ns).toBeGreaterThan(0);
  });
});

describe('stats', () => {
  it('interpolates quantiles between closest ranks', () => {
    expect(quantile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(quantile([1, 2, 3, 4], 0)).toBe(1);
    expect(quantile([1, 2, 3, 4], 1)).toBe(4);
    expect(quantile([], 0.5)).toBeNaN();
    expect(median([5, 1, 3])).toBe(3);
  });

  it('summarises unsorted samples', () => {
    const samples = Array.from({ length: 100 }, (_, i) => 100 - i);
    expect(summarise(samples)).toEqual({ samples: 100, p50Ms: 50.5, p99Ms: 99.01, meanMs: 50.5 });
  });

  it('rounds to three significant digits', () => {
    expect(round(0.0123456)).toBe(0.0123);
    expect(round(12345)).toBe(12300);
    expect(round(0)).toBe(0);
  });
});

describe('report', () => {
  it('aligns columns under their headers', () => {
    const lines = table(['a', 'value'], [['long name', 1], ['x', 22]]).split('\n');
    expect(lines).toEqual(['a          value', '---------  -----', 'long name      1', 'x             22']);
  });

  it('writes markdown tables with number columns right-aligned and pipes escaped', () => {
    expect(markdownTable(['payload', 'p50', 'ratio'], [['a | b', '7.9 µs', 3.2], ['c', '0.36 ms', 2]]).split('\n')).toEqual([
      '| payload | p50 | ratio |',
      '| --- | ---: | ---: |',
      '| a \\| b | 7.9 µs | 3.2 |',
      '| c | 0.36 ms | 2 |',
    ]);
  });

  it('computes the marginal cost per container', () => {
    expect(marginalPerContainer({ containers: 10, ms: 1 }, { containers: 100, ms: 10 })).toBe(0.1);
  });
});

describe('payloads', () => {
  it('builds Pods of n containers, none with a pull policy', () => {
    const pod = podWithContainers(30) as { spec: { containers: Record<string, unknown>[] } };
    expect(pod.spec.containers).toHaveLength(30);
    expect(new Set(pod.spec.containers.map((c) => c.name)).size).toBe(30);
    expect(pod.spec.containers.every((c) => c.imagePullPolicy === undefined)).toBe(true);
  });

  it('puts the Deployment pod spec under its template', () => {
    expect(deployment()).toMatchObject({ kind: 'Deployment', spec: { template: { spec: { containers: [{}, {}] } } } });
    expect(JSON.parse(deploymentPayload().event.body ?? '')).toMatchObject({ request: { kind: { group: 'apps', kind: 'Deployment' } } });
  });

  it('answers the floor with an AdmissionReview for the request uid', async () => {
    const result = await floorHandler(tutorialPayload().event);
    expect(JSON.parse(result.body)).toEqual({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true },
    });
  });
});

describe('zip', () => {
  it('computes the standard CRC-32', () => {
    expect(crc32(Buffer.from('123456789'))).toBe(0xcbf43926);
    expect(crc32(Buffer.alloc(0))).toBe(0);
  });

  it('writes one deflated entry with a data descriptor and a central directory that point at it', () => {
    const data = Buffer.from('exports.handler = async () => ({});\n'.repeat(50));
    const archive = zipOneFile('functions/x.js', data);
    const nameLength = archive.readUInt16LE(26);
    expect(archive.readUInt32LE(0)).toBe(0x04034b50);
    expect(archive.subarray(30, 30 + nameLength).toString()).toBe('functions/x.js');
    const end = archive.subarray(archive.length - 22);
    expect(end.readUInt32LE(0)).toBe(0x06054b50);
    const central = archive.subarray(end.readUInt32LE(16));
    expect(central.readUInt32LE(0)).toBe(0x02014b50);
    const compressedSize = central.readUInt32LE(20);
    expect(central.readUInt32LE(24)).toBe(data.length);
    expect(central.readUInt32LE(16)).toBe(crc32(data));
    const start = 30 + nameLength;
    expect(inflateRawSync(archive.subarray(start, start + compressedSize)).equals(data)).toBe(true);
    expect(archive.readUInt32LE(start + compressedSize)).toBe(0x08074b50);
  });
});

describe('warm helpers', () => {
  it('measures every series in rotation, with at least the minimum of samples each', async () => {
    const order: string[] = [];
    const handler = (name: string) => async () => {
      order.push(name);
      return { statusCode: 200, body: '' };
    };
    const event = tutorialPayload().event;
    const results = await measureSeries(
      [
        { name: 'a', handler: handler('a'), event },
        { name: 'b', handler: handler('b'), event },
      ],
      { warmupMs: 0, durationMs: 0, rounds: 2, minSamples: 6 },
    );
    expect([...results.keys()]).toEqual(['a', 'b']);
    for (const result of results.values()) expect(result.samples).toBe(6);
    // No warm-up (0 ms), then rounds a, b, a, b of three calls each.
    expect(order.join('')).toBe('aaabbbaaabbb');
  });

  it('silences console.log while measuring and restores it, even when the work throws', async () => {
    const original = console.log;
    await expect(
      withSilentConsole(async () => {
        expect(console.log).not.toBe(original);
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(console.log).toBe(original);
  });
});

describe('build', () => {
  const dir = mkdtempSync(join(tmpdir(), 'bench-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('uses the shared esbuild options with the deployed entry points, bundled as CommonJS with the Secrets Manager client inside', () => {
    const options = deployedBuildOptions(dir);
    expect(options).toMatchObject({ bundle: true, format: 'cjs', minify: true, platform: 'node' });
    expect(options.entryPoints).toEqual(['functions/mutate.ts', 'functions/validate.ts']);
    expect(options.external ?? []).toEqual([]);
    expect(options.plugins?.map((plugin) => plugin.name)).toEqual(['secrets-manager-get-secret-value-only', 'sdk-code-the-functions-never-run']);
  });

  it('builds bundles that answer the tutorial Pod as the handlers do', async () => {
    const bundles = await buildBundles(dir);
    expect(bundles.map((b) => b.name)).toEqual(['mutate', 'validate']);
    for (const bundle of bundles) {
      expect(bundle.zipBytes).toBeGreaterThan(0);
      expect(bundle.zipBytes).toBeLessThan(bundle.bytes);
    }
    const [mutate, validate] = bundles.map((b) => loadHandler(b.file));
    const answers = await withSilentConsole(() =>
      Promise.all([mutate, validate].map(async (handler) => JSON.parse((await handler!(podPayload(3).event)).body).response)),
    );
    expect(answers[0]).toMatchObject({ allowed: true, patchType: 'JSONPatch' });
    expect(answers[1]).toMatchObject({ allowed: true });
    const denial = await withSilentConsole(async () => JSON.parse((await validate!(tutorialPayload().event)).body).response);
    expect(denial).toMatchObject({ allowed: false, status: { code: 403 } });
  });
});
