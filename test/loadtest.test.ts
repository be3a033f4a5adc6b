/**
 * `npm run loadtest`'s arguments and usage (scripts/loadtest.ts). The load test itself is not
 * part of `npm test` (it runs a server and 5,000 requests); here only what it says and refuses.
 */
import { execFile } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { USAGE, UsageError, parseOptions } from '../scripts/loadtest';
import { ROOT } from './support/serverless';

describe('loadtest arguments', () => {
  it('defaults to 5,000 requests over 16 connections within 180 s, and takes --name=N', () => {
    expect(parseOptions([])).toEqual({ requests: 5000, connections: 16, maxSeconds: 180 });
    expect(parseOptions(['--requests=200', '--connections=4', '--max-seconds=60'])).toEqual({ requests: 200, connections: 4, maxSeconds: 60 });
    expect(parseOptions(['--requests=200', '--help'])).toBe('help');
    expect(parseOptions(['-h'])).toBe('help');
  });

  it.each([
    [['--requests=0'], '--requests must be between 1 and 1000000'],
    [['--connections=257'], '--connections must be between 1 and 256'],
    [['--requests', '200'], 'unknown argument "--requests"; use --requests=N --connections=N --max-seconds=N'],
    [['--duration=10'], 'unknown argument "--duration=10"'],
  ])('%j: a usage error naming the problem', (argv, message) => {
    expect(() => parseOptions(argv)).toThrow(UsageError);
    expect(() => parseOptions(argv)).toThrow(message);
  });

  it('says that it starts its own server, and gives the defaults and limits it applies', () => {
    expect(USAGE).toMatch(/^usage: npm run loadtest \[-- --requests=N --connections=N --max-seconds=N\]\n/);
    expect(USAGE).toContain('Starts its own local server (npm start: serverless-offline, stage local, authentication off) on\n127.0.0.1 and free ports');
    expect(USAGE).toContain('--requests=N     answers to check (default 5000, 1 to 1000000)');
    expect(USAGE).toContain('--connections=N  concurrent connections (default 16, 1 to 256)');
    expect(USAGE).toContain('--max-seconds=N  time limit of the run (default 180, 1 to 3600); the server gets 120 s to start');
  });
});

describe('npm run loadtest, as a command', () => {
  const npmRun = (args: string[]) =>
    new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
      execFile('npm', ['run', '-s', 'loadtest', '--', ...args], { cwd: ROOT, timeout: 30_000 }, (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === 'number' ? error.code : null) : 0, stdout, stderr }),
      );
    });

  it('prints the usage for --help and exits 0 without starting a server; a wrong argument exits 2', async () => {
    const [help, wrong] = await Promise.all([npmRun(['--help']), npmRun(['--requests=0'])]);
    expect(help).toEqual({ code: 0, stdout: `${USAGE}\n`, stderr: '' });
    expect(wrong.code).toBe(2);
    expect(wrong.stdout).toBe('');
    expect(wrong.stderr).toBe(`loadtest: --requests must be between 1 and 1000000\n${USAGE}\n`);
  }, 40_000);
});
