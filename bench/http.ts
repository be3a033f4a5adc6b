/**
 * Warm throughput over HTTP: a node:http server on 127.0.0.1 passes each POST to a handler as an
 * API Gateway REST event; an autocannon client sends the tutorial Pod's review. The handlers are
 * the built bundles, compared with an empty handler that answers the same AdmissionReview and
 * writes the same one log line per review, so that the server, the client and the log write are
 * in both and the ratio is what the webhook itself costs. Each server is a child process whose
 * stdout (where the log lines go) is /dev/null. Bounded: a fixed number of requests per run and
 * at most MAX_RUN_MS per run; runs alternate (empty, mutate, validate, then again) and each
 * series adds its runs up. Children are stopped by PID.
 */
import autocannon from 'autocannon';
import { type ChildProcess, spawn } from 'node:child_process';
import { type IncomingMessage, createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';
import { tutorialPayload } from './payloads';
import { type Handler, loadHandler } from './warm';

const HOST = '127.0.0.1';
const CONNECTIONS = 16;
const MAX_RUN_MS = 20_000;

export interface HttpOptions {
  /** Requests per run; each series has `repeats` runs. */
  requests: number;
  repeats: number;
}

export interface HttpResult {
  name: string;
  requests: number;
  perSecond: number;
  /** Reviews per second over the empty handler's. */
  ratio: number;
  errors: number;
}

/** The handler for `name`: a built bundle, or the empty handler answering `answer` and logging `line`. */
function handlerFor(target: string, answer: string, line: string): Handler {
  if (target !== 'empty') return loadHandler(target);
  return async () => {
    console.log(line);
    return { statusCode: 200, headers: { 'content-type': 'application/json' }, body: answer };
  };
}

async function bodyOf(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Child: serves `handler` on a free port of 127.0.0.1 and reports the port over IPC. */
function serve(handler: Handler): void {
  const server = createServer(async (request, response) => {
    const event = {
      httpMethod: request.method,
      path: request.url,
      headers: request.headers,
      pathParameters: { token: 't' },
      queryStringParameters: null,
      body: await bodyOf(request),
      isBase64Encoded: false,
    } as unknown as GatewayEvent;
    const result: GatewayResult = await handler(event);
    response.writeHead(result.statusCode, result.headers as Record<string, string>).end(result.body);
  });
  server.listen(0, HOST, () => {
    const address = server.address();
    process.send?.({ port: typeof address === 'object' && address ? address.port : 0 });
  });
  process.on('disconnect', () => process.exit(0));
}

function startServer(target: string, answer: string, line: string): Promise<{ child: ChildProcess; port: number }> {
  const self = fileURLToPath(import.meta.url);
  const child = spawn(process.execPath, [...process.execArgv, self, 'serve', target, answer, line], {
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the server for ${target} did not start`)), 30_000);
    child.once('message', (message: { port: number }) => {
      clearTimeout(timer);
      resolve({ child, port: message.port });
    });
    child.once('exit', (code) => reject(new Error(`the server for ${target} exited (${code})`)));
  });
}

async function load(port: number, body: string, requests: number): Promise<{ seconds: number; done: number; errors: number }> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const instance = autocannon(
      {
        url: `http://${HOST}:${port}/mutate/t`,
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
        connections: CONNECTIONS,
        amount: requests,
        timeout: 10,
      },
      (error, result) => {
        clearTimeout(guard);
        if (error) reject(error);
        else resolve({ seconds: (performance.now() - started) / 1000, done: result.requests.total, errors: result.errors + result.non2xx });
      },
    );
    const guard = setTimeout(() => instance.stop(), MAX_RUN_MS);
  });
}

/** Reviews per second of the empty handler and both bundles, served over HTTP on 127.0.0.1. */
export async function httpSection(bundles: { mutate: string; validate: string }, options: HttpOptions): Promise<HttpResult[]> {
  const { event } = tutorialPayload();
  const body = event.body ?? '';
  // The empty handler answers as validate does and writes validate's log line for this review.
  const validate = loadHandler(bundles.validate);
  let line = '';
  const original = console.log;
  console.log = (text: string) => {
    line = text;
  };
  const answer = await validate(event).finally(() => {
    console.log = original;
  });
  const targets = { empty: 'empty', mutate: bundles.mutate, validate: bundles.validate };
  const totals = Object.fromEntries(Object.keys(targets).map((name) => [name, { seconds: 0, done: 0, errors: 0 }]));
  for (let repeat = 0; repeat < options.repeats; repeat += 1) {
    for (const [name, target] of Object.entries(targets)) {
      const { child, port } = await startServer(target, answer.body, line);
      try {
        await load(port, body, Math.ceil(options.requests / 10)); // warm-up
        const run = await load(port, body, options.requests);
        const total = totals[name] as { seconds: number; done: number; errors: number };
        total.seconds += run.seconds;
        total.done += run.done;
        total.errors += run.errors;
      } finally {
        child.kill();
      }
    }
  }
  const rate = (name: string) => (totals[name]?.done ?? 0) / (totals[name]?.seconds || 1);
  return Object.keys(targets).map((name) => ({
    name,
    requests: totals[name]?.done ?? 0,
    perSecond: rate(name),
    ratio: rate(name) / rate('empty'),
    errors: totals[name]?.errors ?? 0,
  }));
}

const [, script, mode, target, answer, line] = process.argv;
if (script === fileURLToPath(import.meta.url) && mode === 'serve' && target && answer && line) {
  serve(handlerFor(target, answer, line));
}
