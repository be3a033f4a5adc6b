/**
 * The type check (`tsc --noEmit` over functions, lib, test, scripts, bench and bin) as a suite, so
 * it runs beside the others instead of holding up the whole run on one core before they start.
 */
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import { ROOT } from './support/serverless';

const TSC = createRequire(join(ROOT, 'package.json')).resolve('typescript/bin/tsc');

it('type-checks the whole project with no error', async () => {
  const { code, output } = await new Promise<{ code: number | null; output: string }>((resolve) => {
    execFile(process.execPath, [TSC, '--noEmit', '-p', join(ROOT, 'tsconfig.json')], { cwd: ROOT, timeout: 110_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, output: `${stdout}${stderr}` });
    });
  });
  expect(output).toBe('');
  expect(code).toBe(0);
}, 120_000);
