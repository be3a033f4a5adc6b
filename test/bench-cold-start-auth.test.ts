/** The authenticated cold-start benchmark's helpers (bench/cold-start-auth.ts); no timing is asserted. */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  BUILTINS_PART,
  PARTS,
  type PartName,
  VARIANTS,
  authColdStartFigures,
  authColdStartPartsTable,
  authColdStartTable,
  authenticatedColdStarts,
  buildAuthVariants,
} from '../bench/cold-start-auth';
import { buildBundles } from '../bench/build';
import { tutorialPayload } from '../bench/payloads';

const dir = mkdtempSync(join(tmpdir(), 'bench-auth-test-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('authenticated cold-start variants', () => {
  let bundles: Awaited<ReturnType<typeof buildAuthVariants>>;

  it('builds one mutate bundle per variant, each with the client tree-shaken to GetSecretValue and the marks of bench/sdk-steps.ts', async () => {
    bundles = await buildAuthVariants(dir);
    expect(bundles.map((bundle) => bundle.name)).toEqual(VARIANTS.map((variant) => variant.name));
    for (const bundle of bundles) {
      const code = readFileSync(bundle.file, 'utf8');
      // Booleans, not toContain: a failure would print the whole bundle.
      const has = (text: string) => code.includes(text);
      expect(has('AWS4-HMAC-SHA256'), bundle.name).toBe(true);
      expect(has('benchMarkSend'), bundle.name).toBe(true);
      expect(has('RotateSecretCommand') || has('PutSecretValueCommand'), bundle.name).toBe(false);
    }
  }, 60_000);

  it('answers a first review with the token read from the local Secrets Manager, and reports its parts', async () => {
    const deployed = (await buildBundles(join(dir, 'deployed'))).find((bundle) => bundle.name === 'mutate');
    if (!deployed) throw new Error('no mutate bundle');
    // One round, no warm-up: a floor and two processes per bundle.
    const report = await authenticatedColdStarts([...bundles, { ...deployed, name: 'deployed' }], tutorialPayload().event, dir, 1, 0);
    expect(report.runs).toBe(1);
    expect(report.floorWallMs).toBeGreaterThan(0);
    const names: PartName[] = [BUILTINS_PART, ...PARTS.map(([name]) => name)];
    for (const result of report.variants) {
      expect(result).toMatchObject({ statusCode: 200, allowed: true });
      for (const value of Object.values(result.onDemand)) expect(value).toBeGreaterThanOrEqual(0);
      expect(result.onDemand.answeredMs).toBeGreaterThan(result.onDemand.bundleLoadMs);
      // Only the variants carry marks; the deployed bundle has the coarse parts alone.
      if (result.name === 'deployed') {
        expect(result.parts).toBeUndefined();
        continue;
      }
      expect(Object.keys(result.parts ?? {}).sort()).toEqual([...names].sort());
      for (const name of names) expect(result.parts?.[name], name).toBeGreaterThanOrEqual(0);
      // The SDK loads https (and with it tls) the first time it is evaluated.
      expect(result.parts?.[BUILTINS_PART]).toBeGreaterThan(0);
    }
    expect(authColdStartTable(report).split('\n')).toHaveLength(2 + VARIANTS.length + 1);
    const parts = authColdStartPartsTable(report).split('\n');
    expect(parts).toHaveLength(2 + names.length + 1);
    expect(parts[0]).toContain(VARIANTS[0].name);
    expect(parts[0]).not.toContain('deployed');
    const figures = authColdStartFigures(report) as Record<string, unknown>;
    expect(Object.keys(figures)).toEqual(['runs', 'floorWallMs', ...VARIANTS.map((variant) => variant.name), 'deployed']);
    expect(Object.keys((figures[VARIANTS[0].name] as { parts: object }).parts)).toHaveLength(names.length);
  }, 60_000);
});
