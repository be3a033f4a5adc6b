/**
 * Runs an unzipped function bundle as the Lambda runtime loads it: `require` in a plain Node
 * process whose working directory is the zip's root (as /var/task is), with the function's
 * environment from the packaged template, and calls its handler with one event.
 */
import { execFile } from 'node:child_process';
import { join } from 'node:path';

const RESULT_MARKER = '@@handler-result@@';

export interface ChildResult {
  result: { statusCode: number; headers: Record<string, string>; body: string };
  /** What the handler logged (stdout before the result, and stderr). */
  log: string;
}

/** `root`: the unzipped zip; `name`: the function (its bundle is functions/<name>.js); `env`: the whole environment. */
export function invokeUnzipped(root: string, name: string, env: Record<string, string | undefined>, event: unknown): Promise<ChildResult> {
  const script = `
    // Nothing but the bundle: the SDK must not be found outside it.
    let sdkOutside = true;
    try { require.resolve('@aws-sdk/client-secrets-manager'); } catch { sdkOutside = false; }
    if (sdkOutside) throw new Error('the AWS SDK is reachable outside the bundle');
    const handler = require(process.argv[1]).handler;
    if (typeof handler !== 'function') throw new Error('no handler export');
    let input = '';
    process.stdin.on('data', (chunk) => (input += chunk));
    process.stdin.on('end', async () => {
      const result = await handler(JSON.parse(input), {});
      // The handler logs to stdout too: the result goes last, after a marker.
      process.stdout.write('\\n' + ${JSON.stringify(RESULT_MARKER)} + JSON.stringify(result));
    });`;
  return new Promise((resolve, reject) => {
    const child = execFile(
      process.execPath,
      ['-e', script, join(root, 'functions', `${name}.js`)],
      { cwd: root, timeout: 20_000, killSignal: 'SIGKILL', env: { PATH: process.env.PATH, ...env } },
      (error, stdout, stderr) => {
        if (error) return reject(new Error(`the ${name} bundle failed: ${error.message}\n${stderr}`));
        const text = String(stdout);
        const at = text.lastIndexOf(RESULT_MARKER);
        try {
          if (at < 0) throw new Error('no result marker');
          resolve({ result: JSON.parse(text.slice(at + RESULT_MARKER.length)), log: `${text.slice(0, at)}\n${stderr}` });
        } catch (problem) {
          reject(new Error(`the ${name} bundle printed no result (${String(problem)}):\n${text}\n${stderr}`));
        }
      },
    );
    child.stdin?.end(JSON.stringify(event));
  });
}

/** What points a bundle's Secrets Manager client at the local endpoint at `url`, with dummy credentials and no instance metadata. */
export function localSecretsEnvironment(url: string): Record<string, string> {
  return {
    AWS_ENDPOINT_URL_SECRETS_MANAGER: url,
    AWS_REGION: 'us-east-1',
    AWS_ACCESS_KEY_ID: 'AKIDLOCALTEST',
    AWS_SECRET_ACCESS_KEY: 'local-test-secret',
    AWS_EC2_METADATA_DISABLED: 'true',
  };
}
