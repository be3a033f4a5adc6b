/** The authenticated cold-start benchmark's helpers (bench/cold-start-auth.ts); no timing is asserted. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { VARIANTS, authColdStartFigures, authColdStartTable, authenticatedColdStarts, buildAuthVariants } from '../bench/cold-start-auth';
import { tutorialPayload } from '../bench/payloads';

const dir = mkdtempSync(join(tmpdir(), 'bench-auth-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('authenticated cold-start variants', () => {
  let bundles: Awaited<ReturnType<typeof buildAuthVariants>>;

  // The first two variants: the SDK left to the runtime, and bundled (reading at init does not change the bundling).
  const variants = VARIANTS.slice(0, 2);

  it('builds one mutate bundle per variant: the SDK left to the runtime, or bundled and tree-shaken', async () => {
    bundles = await buildAuthVariants(dir, variants);
    expect(bundles.map((bundle) => bundle.name)).toEqual(variants.map((variant) => variant.name));
    for (const [index, variant] of variants.entries()) {
      const code = readFileSync(bundles[index]?.file ?? '', 'utf8');
      // Booleans, not toContain: a failure would print the whole bundle.
      const has = (text: string) => code.includes(text);
      expect(has('require("@aws-sdk/client-secrets-manager")'), variant.name).toBe(!variant.bundleSdk);
      expect(has('AWS4-HMAC-SHA256'), variant.name).toBe(variant.bundleSdk);
      // Tree-shaken: no Secrets Manager command but GetSecretValue (the package's index would keep all of them).
      expect(has('RotateSecretCommand') || has('PutSecretValueCommand'), variant.name).toBe(false);
    }
    const [runtime, bundled] = bundles;
    expect(bundled?.zipBytes).toBeGreaterThan(5 * (runtime?.zipBytes ?? 0));
  }, 60_000);

  it('answers a first review with the token read from the local Secrets Manager, and reports its parts', async () => {
    // One round, no warm-up: four processes.
    const report = await authenticatedColdStarts(bundles, tutorialPayload().event, dir, 1, 0);
    expect(report.runs).toBe(1);
    expect(report.floorWallMs).toBeGreaterThan(0);
    for (const [index, result] of report.variants.entries()) {
      expect(result).toMatchObject({ statusCode: 200, allowed: true });
      const parts = result.onDemand;
      for (const key of ['bundleLoadMs', 'clientMs', 'secretReadMs', 'reviewMs', 'firstReviewMs', 'answeredMs', 'wallMs'] as const) {
        expect(parts[key]).toBeGreaterThanOrEqual(0);
      }
      // Only a runtime SDK is required from NODE_PATH, so only it has a load time of its own.
      expect(parts.sdkLoadMs > 0).toBe(!variants[index]?.bundleSdk);
      expect(parts.answeredMs).toBeGreaterThan(parts.bundleLoadMs);
    }
    const text = authColdStartTable(report);
    expect(text.split('\n')).toHaveLength(2 + 2);
    expect(text).toContain('in bundle');
    expect(Object.keys(authColdStartFigures(report))).toEqual(['runs', 'floorWallMs', ...variants.map((variant) => variant.name)]);
  }, 60_000);
});
