/**
 * Marks on the timeline of the Secrets Manager client, for the parts of the authenticated cold
 * start (bench/cold-start-auth.ts). Built only into the benchmark's variants, never into the
 * functions: `markedClient` wraps a client factory of lib/auth/secrets-manager.ts so that the
 * process records when the SDK's modules were evaluated, when the client was constructed, and
 * when each send reaches the middleware of each part of the SDK's work. The marks go to
 * `globalThis.coldStartMarks`, which bench/cold-start-auth-child.cjs sets up and reports.
 */
import { performance } from 'node:perf_hooks';
import type { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

type Sdk = typeof import('@aws-sdk/client-secrets-manager');
type Mark = [name: string, at: number];

declare global {
  var coldStartMarks: Mark[] | undefined;
}

const mark = (name: string) => globalThis.coldStartMarks?.push([name, performance.now()]);

type Next = (args: unknown) => Promise<unknown>;
const marker = (name: string) => (next: Next) => async (args: unknown) => {
  mark(name);
  return next(args);
};

/**
 * Where each mark goes in the SDK's middleware stack, in the order a send reaches them: `auth`
 * before the auth scheme and identity (credentials) are resolved, `endpoint` before the endpoint
 * rules, `serialize` before the request is serialised, `sign` after the build step (user agent,
 * host header, recursion detection, content length) and the retry strategy, `handler` once signed,
 * when the request goes to the HTTP handler. Each is placed next to one middleware, which no other
 * is placed against on that side, so the order is certain.
 */
const PLACES: readonly [mark: string, relation: 'before' | 'after', middleware: string][] = [
  ['auth', 'before', 'httpAuthSchemeMiddleware'],
  ['endpoint', 'after', 'httpAuthSchemeMiddleware'],
  ['serialize', 'after', 'endpointV2Middleware'],
  ['sign', 'before', 'httpSigningMiddleware'],
  ['handler', 'after', 'httpSigningMiddleware'],
];

function withStepMarks(client: SecretsManagerClient): SecretsManagerClient {
  // The stack's types are per command; these middlewares only pass every call on.
  const stack = client.middlewareStack as unknown as {
    add(middleware: unknown, options: object): void;
    addRelativeTo(middleware: unknown, options: object): void;
  };
  // First of all: `send` when a send begins, `sent` when its output is deserialised.
  stack.add(
    (next: Next) => async (args: unknown) => {
      mark('send');
      const output = await next(args);
      mark('sent');
      return output;
    },
    { step: 'initialize', priority: 'high', name: 'benchMarkSend' },
  );
  for (const [name, relation, middleware] of PLACES) stack.addRelativeTo(marker(name), { relation, toMiddleware: middleware, name: `benchMark-${name}` });
  // The first of the build step: where serialising ends.
  stack.add(marker('build'), { step: 'build', priority: 'high', name: 'benchMark-build' });
  return client;
}

/** `create`, marking `sdk evaluated` before it runs and `client constructed` after. */
export const markedClient =
  (create: (sdk: Sdk) => SecretsManagerClient) =>
  (sdk: Sdk): SecretsManagerClient => {
    mark('sdk evaluated');
    const client = create(sdk);
    mark('client constructed');
    return withStepMarks(client);
  };
