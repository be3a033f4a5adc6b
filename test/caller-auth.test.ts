import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  type FetchSecretVersion,
  FROZEN_SLACK_MS,
  MISMATCH_REFRESH_MS,
  RETRY_AFTER_FAILURE_MS,
  type VersionStage,
  createCallerAuth,
  createOpenAuth,
  tokensFromSecret,
} from '../lib/auth/caller-auth';
import type { LogRecord } from '../lib/common/log';
import { HttpError } from '../lib/common/status';
import { expectEventMetric, recordsCounting } from './support/emf';

/** Long, distinctive tokens, so a leak into an error or a log line cannot go unnoticed. */
const TOKEN_A = 'tok-alpha-7f3c9e1b2d4a6f8e0c1b3d5f7a9c2e4b6d8f0a1c3e5b7d9f';
const TOKEN_B = 'tok-bravo-0e2d4c6b8a1f3e5d7c9b0a2f4e6d8c1b3a5f7e9d2c4b6a8f';
const TOKEN_C = 'tok-charlie-5a7c9e0b2d4f6a8c1e3b5d7f9a0c2e4b6d8f1a3c5e7b9d0f';
const WRONG = 'tok-wrong-9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0c9b8a7f6e';
const TTL_MS = 300_000;
const BUDGET_MS = 1200;

const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest();

/** An in-memory Secrets Manager: versions per stage, an optional failure, a gate to hold fetches, a call log. */
function fakeSecrets(current?: string, previous?: string) {
  const versions: Partial<Record<VersionStage, string>> = {};
  if (current !== undefined) versions.AWSCURRENT = current;
  if (previous !== undefined) versions.AWSPREVIOUS = previous;
  const calls: { stage: VersionStage; budgetMs: number }[] = [];
  const failures: Partial<Record<VersionStage, Error>> = {};
  let gate: { until: Promise<void>; stages: readonly VersionStage[] } | undefined;
  const fetchVersion: FetchSecretVersion = async (stage, budgetMs) => {
    calls.push({ stage, budgetMs });
    if (gate?.stages.includes(stage)) await gate.until;
    const failure = failures[stage];
    if (failure) throw failure;
    return versions[stage];
  };
  return {
    versions,
    calls,
    fetchVersion,
    count: (stage: VersionStage) => calls.filter((call) => call.stage === stage).length,
    rotate(next: string) {
      if (versions.AWSCURRENT !== undefined) versions.AWSPREVIOUS = versions.AWSCURRENT;
      versions.AWSCURRENT = next;
    },
    fail(error: Error = new Error('ThrottlingException: Rate exceeded'), stages: readonly VersionStage[] = ['AWSCURRENT', 'AWSPREVIOUS']) {
      for (const stage of stages) failures[stage] = error;
    },
    recover() {
      delete failures.AWSCURRENT;
      delete failures.AWSPREVIOUS;
    },
    /** Holds every fetch (of `stages`) until the returned function is called. */
    hold(stages: readonly VersionStage[] = ['AWSCURRENT', 'AWSPREVIOUS']): () => void {
      let release = () => {};
      const until = new Promise<void>((resolve) => {
        release = () => {
          gate = undefined;
          resolve();
        };
      });
      gate = { until, stages };
      return release;
    },
  };
}

function setup(current?: string, previous?: string, ttlMs = TTL_MS) {
  const secrets = fakeSecrets(current, previous);
  const logs: LogRecord[] = [];
  let time = 1_000_000;
  const clock = {
    advance(ms: number) {
      time += ms;
    },
  };
  const auth = createCallerAuth({ webhook: 'validate', fetchVersion: secrets.fetchVersion, ttlMs, log: (record) => logs.push(record), now: () => time });
  return { secrets, logs, clock, auth };
}

async function statusOf(promise: Promise<unknown>): Promise<number | 'ok'> {
  try {
    await promise;
    return 'ok';
  } catch (error) {
    if (error instanceof HttpError) return error.statusCode;
    throw error;
  }
}

async function httpError(promise: Promise<unknown>): Promise<HttpError> {
  const error = await promise.then(
    () => undefined,
    (caught: unknown) => caught,
  );
  expect(error).toBeInstanceOf(HttpError);
  return error as HttpError;
}

/** Fails if any 12-character piece of `texts` shows up in `where`: a token cut short is still a leak. */
function expectNoLeak(texts: readonly string[], where: unknown[]): void {
  const serialized = where.map((item) => (item instanceof Error ? `${item.name}: ${item.message} ${item.stack}` : JSON.stringify(item)));
  for (const text of texts) {
    const fragments = text.length <= 12 ? [text] : Array.from({ length: text.length - 11 }, (_, i) => text.slice(i, i + 12));
    for (const entry of serialized) {
      for (const fragment of fragments) expect(entry).not.toContain(fragment);
    }
  }
}

describe('tokensFromSecret', () => {
  it('reads a plain token, trimmed, with no cluster', () => {
    const entries = tokensFromSecret(`  ${TOKEN_A}\n`);
    expect(entries).toHaveLength(1);
    expect(entries[0]?.cluster).toBeUndefined();
    expect(entries[0]?.digest.equals(sha256(TOKEN_A))).toBe(true);
  });

  it('reads {"token": ...}', () => {
    const entries = tokensFromSecret(JSON.stringify({ token: TOKEN_A }));
    expect(entries.map((entry) => entry.cluster)).toEqual([undefined]);
    expect(entries[0]?.digest.equals(sha256(TOKEN_A))).toBe(true);
  });

  it('reads {"tokens": {cluster: token}} with one entry per cluster', () => {
    const entries = tokensFromSecret(JSON.stringify({ tokens: { prod: TOKEN_A, staging: TOKEN_B } }));
    expect(entries.map((entry) => entry.cluster)).toEqual(['prod', 'staging']);
    expect(entries[0]?.digest.equals(sha256(TOKEN_A))).toBe(true);
    expect(entries[1]?.digest.equals(sha256(TOKEN_B))).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['only whitespace', ' \n\t '],
    ['"{" garbage', `{ ${TOKEN_A}`],
    ['truncated JSON', `{"token": "${TOKEN_A}"`],
    ['JSON without a token', JSON.stringify({ tokn: TOKEN_A })],
    ['an empty token', JSON.stringify({ token: '' })],
    ['a non-string token', JSON.stringify({ token: 42 })],
    ['an empty tokens map', JSON.stringify({ tokens: {} })],
    ['a tokens map with an empty token', JSON.stringify({ tokens: { prod: TOKEN_A, staging: '' } })],
    ['a tokens map with a non-string token', JSON.stringify({ tokens: { prod: TOKEN_A, staging: 7 } })],
    ['tokens as an array', JSON.stringify({ tokens: [TOKEN_A] })],
  ])('rejects %s without quoting the value', (_name, secret) => {
    let error: unknown;
    try {
      tokensFromSecret(secret);
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).not.toContain(TOKEN_A);
    expect((error as Error).message).not.toContain('tok-');
  });
});

describe('createCallerAuth: tokens', () => {
  it('accepts the right plain token, refuses a wrong or missing one with 403', async () => {
    const { auth, logs } = setup(TOKEN_A);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(await statusOf(auth(undefined, BUDGET_MS))).toBe(403);
    expect(await statusOf(auth('', BUDGET_MS))).toBe(403);
    expect(await statusOf(auth(`${TOKEN_A}x`, BUDGET_MS))).toBe(403);
    expect(await statusOf(auth(TOKEN_A.slice(0, -1), BUDGET_MS))).toBe(403);
    const refusals = [await httpError(auth(WRONG, BUDGET_MS)), await httpError(auth(undefined, BUDGET_MS))];
    expect(refusals.map((error) => error.statusCode)).toEqual([403, 403]);
    expectNoLeak([TOKEN_A, WRONG], [...refusals, ...logs]);
  });

  it('does not fetch the secret for a request without a token', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    const error = await httpError(auth(undefined, BUDGET_MS));
    expect(error.statusCode).toBe(403);
    expect(secrets.calls).toHaveLength(0);
  });

  it('accepts {"token": ...}', async () => {
    const { auth } = setup(JSON.stringify({ token: TOKEN_A }));
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
  });

  it('returns the matched cluster for {"tokens": {...}}', async () => {
    const { auth, logs } = setup(JSON.stringify({ tokens: { prod: TOKEN_A, staging: TOKEN_B } }));
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({ cluster: 'prod' });
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({ cluster: 'staging' });
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expectNoLeak([TOKEN_A, TOKEN_B, WRONG], logs);
  });

  it('fetches both stages with the request budget', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    await auth(TOKEN_A, 777);
    expect(secrets.calls).toEqual([
      { stage: 'AWSCURRENT', budgetMs: 777 },
      { stage: 'AWSPREVIOUS', budgetMs: 777 },
    ]);
  });

  it('accepts AWSPREVIOUS as well as AWSCURRENT during rotation', async () => {
    const { auth } = setup(TOKEN_B, TOKEN_A);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
  });

  it('returns the cluster from an AWSPREVIOUS fleet secret', async () => {
    const { auth } = setup(JSON.stringify({ tokens: { prod: TOKEN_B } }), JSON.stringify({ tokens: { prod: TOKEN_A, old: TOKEN_C } }));
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({ cluster: 'prod' });
    await expect(auth(TOKEN_C, BUDGET_MS)).resolves.toEqual({ cluster: 'old' });
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({ cluster: 'prod' });
  });

  it('works without an AWSPREVIOUS version', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSPREVIOUS')).toBe(1);
  });
});

describe('createCallerAuth: cache', () => {
  it('does not fetch again within the TTL and refetches after it', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    expect(secrets.count('AWSCURRENT')).toBe(1);
    for (let i = 0; i < 5; i += 1) {
      clock.advance(TTL_MS / 10);
      await auth(TOKEN_A, BUDGET_MS);
    }
    expect(secrets.count('AWSCURRENT')).toBe(1);
    clock.advance(TTL_MS / 2);
    await auth(TOKEN_A, BUDGET_MS);
    expect(secrets.count('AWSCURRENT')).toBe(2);
    expect(secrets.count('AWSPREVIOUS')).toBe(2);
  });

  it('picks up a rotation at the next refetch after the TTL', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    secrets.rotate(TOKEN_B);
    clock.advance(TTL_MS);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });

  it('serves the stale value while Secrets Manager fails, retrying at most every 10 s', async () => {
    const { auth, secrets, clock, logs } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    secrets.fail();
    clock.advance(TTL_MS + 1);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(2);
    expect(logs.some((record) => record.level === 'WARN' && String(record.message).includes('cached'))).toBe(true);

    // Within 10 s of the failure: no new fetch, still served (and a wrong token still refused).
    for (let i = 0; i < 4; i += 1) {
      clock.advance(2000);
      await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    }
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(2);

    clock.advance(RETRY_AFTER_FAILURE_MS - 8000);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(3);

    // Recovery: the next retry refreshes the cache, which then lasts a whole TTL again.
    secrets.recover();
    secrets.rotate(TOKEN_B);
    clock.advance(RETRY_AFTER_FAILURE_MS);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(4);
    clock.advance(TTL_MS - 1);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(4);
    expectNoLeak([TOKEN_A, TOKEN_B, WRONG], logs);
  });

  it('fails closed with 503 when nothing is cached, retrying at most every 10 s', async () => {
    const { auth, secrets, clock, logs } = setup(TOKEN_A);
    secrets.fail();
    const error = await httpError(auth(TOKEN_A, BUDGET_MS));
    expect(error.statusCode).toBe(503);
    expect(secrets.count('AWSCURRENT')).toBe(1);
    expect(logs.some((record) => record.level === 'WARN')).toBe(true);

    clock.advance(RETRY_AFTER_FAILURE_MS - 1);
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(503);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(503);
    expect(secrets.count('AWSCURRENT')).toBe(1);

    clock.advance(1);
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(503);
    expect(secrets.count('AWSCURRENT')).toBe(2);

    secrets.recover();
    clock.advance(RETRY_AFTER_FAILURE_MS);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(3);
    expectNoLeak([TOKEN_A, WRONG], logs);
  });

  it('fails closed when the secret has no AWSCURRENT version', async () => {
    const { auth } = setup(undefined, TOKEN_A);
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(503);
  });
});

describe('createCallerAuth: a token that matches neither version', () => {
  it('triggers one refresh, at most every 30 s', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    expect(secrets.count('AWSCURRENT')).toBe(1);

    clock.advance(1000);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(2);

    for (let i = 0; i < 5; i += 1) {
      clock.advance(5000);
      expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    }
    expect(secrets.count('AWSCURRENT')).toBe(2);

    clock.advance(MISMATCH_REFRESH_MS - 25_000);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(3);
  });

  it('does not refresh twice when the request itself just fetched the secret', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(1);
  });

  it('accepts a cluster switched to a rotated token within 30 s', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    clock.advance(1000);
    // Someone probes with a wrong token: that spends the mismatch refresh.
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);

    clock.advance(1000);
    secrets.rotate(TOKEN_B);
    // Still within 30 s of the last mismatch refresh: the new token is not known yet.
    expect(await statusOf(auth(TOKEN_B, BUDGET_MS))).toBe(403);
    // The old token keeps working throughout.
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});

    clock.advance(MISMATCH_REFRESH_MS - 1000);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    // ... and the refreshed cache holds AWSPREVIOUS, so the old token still works too.
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
  });

  it('accepts a rotated token at once when no mismatch refresh happened recently', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    clock.advance(5000);
    secrets.rotate(TOKEN_B);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
  });

  it('serves the cached value and refuses with 403 when the mismatch refresh fails', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    secrets.fail();
    clock.advance(1000);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(2);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    // The failed refresh also starts the 10 s back-off: after 30 s a mismatch refreshes again.
    clock.advance(MISMATCH_REFRESH_MS);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(3);
  });
});

describe('createCallerAuth: concurrency', () => {
  it('shares one fetch among concurrent first requests', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    const release = secrets.hold();
    const results = Array.from({ length: 20 }, (_, i) => auth(i % 2 === 0 ? TOKEN_A : WRONG, BUDGET_MS).then(
      () => 'ok' as const,
      (error: HttpError) => error.statusCode,
    ));
    await Promise.resolve();
    release();
    const statuses = await Promise.all(results);
    expect(statuses.filter((status) => status === 'ok')).toHaveLength(10);
    expect(statuses.filter((status) => status === 403)).toHaveLength(10);
    expect(secrets.count('AWSCURRENT')).toBe(1);
    expect(secrets.count('AWSPREVIOUS')).toBe(1);
  });

  it('shares one refresh among concurrent requests after the TTL', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    clock.advance(TTL_MS);
    const release = secrets.hold();
    const results = Array.from({ length: 10 }, () => auth(TOKEN_A, BUDGET_MS));
    release();
    await expect(Promise.all(results)).resolves.toHaveLength(10);
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });

  it('shares one failed fetch among concurrent requests: all 503, one attempt', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    secrets.fail();
    const release = secrets.hold();
    const results = Array.from({ length: 10 }, () => statusOf(auth(TOKEN_A, BUDGET_MS)));
    release();
    expect(await Promise.all(results)).toEqual(Array(10).fill(503));
    expect(secrets.count('AWSCURRENT')).toBe(1);
  });

  it('lets a burst of wrong tokens cause one refresh, not one each', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    clock.advance(5000);
    const release = secrets.hold();
    const results = Array.from({ length: 50 }, () => statusOf(auth(WRONG, BUDGET_MS)));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await Promise.all(results)).toEqual(Array(50).fill(403));
    expect(secrets.count('AWSCURRENT')).toBe(2);
    clock.advance(MISMATCH_REFRESH_MS - 1);
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });

  it('accepts every concurrent request of a cluster switched to a rotated token', async () => {
    const { auth, secrets, clock } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    clock.advance(5000);
    secrets.rotate(TOKEN_B);
    const release = secrets.hold();
    const results = Array.from({ length: 10 }, () => statusOf(auth(TOKEN_B, BUDGET_MS)));
    await new Promise((resolve) => setImmediate(resolve));
    release();
    expect(await Promise.all(results)).toEqual(Array(10).fill('ok'));
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });
});

describe('createCallerAuth: malformed secrets', () => {
  const malformed: [string, string][] = [
    ['an empty string', ''],
    ['"{" garbage', `{${TOKEN_A}`],
    ['truncated JSON holding the token', `{"token": "${TOKEN_A}"`],
    ['JSON without a token', JSON.stringify({ secret: TOKEN_A })],
    ['a fleet map with a bad entry', JSON.stringify({ tokens: { prod: TOKEN_A, staging: null } })],
  ];

  it.each(malformed)('fails closed with 503 for %s, without the secret in the error or logs', async (_name, secret) => {
    const { auth, logs } = setup(secret);
    const error = await httpError(auth(TOKEN_A, BUDGET_MS));
    expect(error.statusCode).toBe(503);
    expect(logs.length).toBeGreaterThan(0);
    expectNoLeak([TOKEN_A, secret].filter((text) => text.length > 3), [error, ...logs]);
  });

  it('keeps serving the cached value when AWSCURRENT turns malformed', async () => {
    const { auth, secrets, clock, logs } = setup(TOKEN_A);
    await auth(TOKEN_A, BUDGET_MS);
    secrets.versions.AWSCURRENT = `{"token": "${TOKEN_B}"`;
    clock.advance(TTL_MS);
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(TOKEN_B, BUDGET_MS))).toBe(403);
    expectNoLeak([TOKEN_A, TOKEN_B], logs);
  });

  it.each(malformed)('a malformed AWSPREVIOUS (%s) does not block AWSCURRENT', async (_name, secret) => {
    const { auth, logs } = setup(TOKEN_B, secret);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(403);
    expectNoLeak([TOKEN_A, TOKEN_B], logs);
  });
});

describe('createOpenAuth', () => {
  it('lets every caller in and warns exactly once', async () => {
    const logs: LogRecord[] = [];
    const auth = createOpenAuth((record) => logs.push(record));
    await expect(auth(undefined, BUDGET_MS)).resolves.toEqual({});
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    await Promise.all(Array.from({ length: 5 }, () => auth(WRONG, BUDGET_MS)));
    expect(logs).toHaveLength(1);
    expect(logs[0]).toMatchObject({ level: 'WARN' });
    expect(String(logs[0]?.message)).toContain('WEBHOOK_TOKEN_SECRET_ID');
    expectNoLeak([TOKEN_A, WRONG], logs);
  });

  it('warns once per authenticator', async () => {
    const logs: LogRecord[] = [];
    const first = createOpenAuth((record) => logs.push(record));
    const second = createOpenAuth((record) => logs.push(record));
    await first(undefined, BUDGET_MS);
    await second(undefined, BUDGET_MS);
    await first(undefined, BUDGET_MS);
    expect(logs).toHaveLength(2);
  });
});

describe('createCallerAuth: a failed AWSPREVIOUS read', () => {
  it.each([
    ['throttling', new Error('ThrottlingException: Rate exceeded')],
    ['KMS', Object.assign(new Error('Secrets Manager can not decrypt the protected secret text using the provided KMS key.'), { name: 'DecryptionFailure' })],
    ['access denied', Object.assign(new Error('not authorized to perform secretsmanager:GetSecretValue'), { name: 'AccessDeniedException' })],
  ])('(%s) serves with AWSCURRENT and logs the failure as a SecretReadFailures record', async (_name, error) => {
    const { auth, secrets, logs } = setup(TOKEN_B, TOKEN_A);
    secrets.fail(error, ['AWSPREVIOUS']);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    // The previous token is unknown for now (its read failed), so it is refused, not let in.
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(403);
    const warnings = logs.filter((record) => record.level === 'WARN');
    expect(warnings.length).toBeGreaterThanOrEqual(1);
    expect(warnings[0]?.message).toMatch(/AWSPREVIOUS could not be read; serving with AWSCURRENT/);
    expect(String(warnings[0]?.error)).toContain(error.name);
    expectEventMetric(warnings[0], 'SecretReadFailures', 'validate');
    expectNoLeak([TOKEN_A, TOKEN_B], logs);
  });

  it('caches AWSCURRENT for the TTL as after a full read (no back-off started)', async () => {
    const { auth, secrets, clock } = setup(TOKEN_B, TOKEN_A);
    secrets.fail(new Error('ThrottlingException: Rate exceeded'), ['AWSPREVIOUS']);
    await auth(TOKEN_B, BUDGET_MS);
    clock.advance(TTL_MS / 2);
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(1);
    // A cluster still on the previous token gets it back at the mismatch refresh once the read works.
    secrets.recover();
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });

  it('still fails closed with 503 when AWSCURRENT fails, whatever AWSPREVIOUS does', async () => {
    const { auth, secrets } = setup(TOKEN_B, TOKEN_A);
    secrets.fail(new Error('AccessDeniedException: no'), ['AWSCURRENT']);
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(503);
    expect(await statusOf(auth(TOKEN_B, BUDGET_MS))).toBe(503);
  });
});

describe('createCallerAuth: a slow AWSPREVIOUS read', () => {
  it('does not hold up AWSCURRENT: the refresh serves as soon as it is in', async () => {
    const { auth, secrets } = setup(TOKEN_B, TOKEN_A);
    const release = secrets.hold(['AWSPREVIOUS']);
    // Before, the refresh waited for both versions, and a request got 503 at its budget.
    await expect(auth(TOKEN_B, 50)).resolves.toEqual({});
    release();
  });

  it('lets a token of AWSPREVIOUS wait for it within its budget, then accepts it', async () => {
    const { auth, secrets } = setup(TOKEN_B, TOKEN_A);
    const release = secrets.hold(['AWSPREVIOUS']);
    await auth(TOKEN_B, BUDGET_MS);
    const previous = auth(TOKEN_A, BUDGET_MS);
    release();
    await expect(previous).resolves.toEqual({});
    expect([secrets.count('AWSCURRENT'), secrets.count('AWSPREVIOUS')]).toEqual([1, 1]);
  });

  it('past the budget refuses a token of AWSPREVIOUS with 403, not 503; it joins the cache when it arrives, without another read', async () => {
    const { auth, secrets } = setup(TOKEN_B, TOKEN_A);
    const release = secrets.hold(['AWSPREVIOUS']);
    await auth(TOKEN_B, BUDGET_MS);
    expect(await statusOf(auth(TOKEN_A, 20))).toBe(403);
    release();
    await new Promise((resolve) => setImmediate(resolve));
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    // The start of the mismatch refresh the 403 made, at most, and no more.
    expect(secrets.count('AWSCURRENT')).toBeLessThanOrEqual(2);
  });
});

describe('createCallerAuth: a read that outlasted its budget while the instance was frozen', () => {
  /** A read of `stages` held until `thaw(ms)` moves the clock on by `ms` and lets it fail. */
  function frozenRead(stages: readonly VersionStage[]) {
    const { auth, secrets, clock, logs } = setup(TOKEN_B, TOKEN_A);
    const release = secrets.hold(stages);
    return {
      auth,
      secrets,
      logs,
      thaw(ms: number) {
        clock.advance(ms);
        secrets.fail(new Error('AbortError: This operation was aborted'), stages);
        release();
      },
    };
  }

  it('is not counted as a failure of AWSCURRENT, and starts no back-off: the next request reads again', async () => {
    const { auth, secrets, logs, thaw } = frozenRead(['AWSCURRENT', 'AWSPREVIOUS']);
    const first = statusOf(auth(TOKEN_B, BUDGET_MS));
    thaw(BUDGET_MS + FROZEN_SLACK_MS + 1);
    expect(await first).toBe(503);
    expect(recordsCounting(logs, 'SecretReadFailures')).toEqual([]);
    expect(logs).toEqual([
      expect.objectContaining({ level: 'INFO', message: 'token secret AWSCURRENT read outlasted its budget while the instance was frozen; not counted as a failure' }),
    ]);
    secrets.recover();
    await expect(auth(TOKEN_B, BUDGET_MS)).resolves.toEqual({});
  });

  it('is not counted for AWSPREVIOUS either', async () => {
    const { auth, logs, thaw } = frozenRead(['AWSPREVIOUS']);
    await auth(TOKEN_B, BUDGET_MS);
    thaw(BUDGET_MS + FROZEN_SLACK_MS + 1);
    await new Promise((resolve) => setImmediate(resolve));
    expect(recordsCounting(logs, 'SecretReadFailures')).toEqual([]);
    expect(logs).toEqual([expect.objectContaining({ level: 'INFO', message: expect.stringMatching(/^token secret AWSPREVIOUS read outlasted its budget/) })]);
  });

  it('but a read that fails within its budget and the slack is counted (a running instance)', async () => {
    const { auth, logs, thaw } = frozenRead(['AWSCURRENT', 'AWSPREVIOUS']);
    const first = statusOf(auth(TOKEN_B, BUDGET_MS));
    thaw(BUDGET_MS + FROZEN_SLACK_MS);
    expect(await first).toBe(503);
    expect(recordsCounting(logs, 'SecretReadFailures')).toHaveLength(1);
  });
});

describe('createCallerAuth: metrics of failed reads', () => {
  it('writes one SecretReadFailures record per failed refresh, not one per waiting request', async () => {
    const { auth, secrets, clock, logs } = setup(TOKEN_A);
    secrets.fail();
    const release = secrets.hold();
    const results = Array.from({ length: 5 }, () => statusOf(auth(TOKEN_A, BUDGET_MS)));
    release();
    expect(await Promise.all(results)).toEqual(Array(5).fill(503));
    expect(recordsCounting(logs, 'SecretReadFailures')).toHaveLength(1);
    clock.advance(RETRY_AFTER_FAILURE_MS);
    expect(await statusOf(auth(TOKEN_A, BUDGET_MS))).toBe(503);
    const failures = recordsCounting(logs, 'SecretReadFailures');
    expect(failures).toHaveLength(2);
    for (const record of failures) expectEventMetric(record, 'SecretReadFailures', 'validate');
    expect(failures.map((record) => record.message)).toEqual(['token secret could not be read', 'token secret could not be read']);
  });

  it('writes no metric record for a successful read', async () => {
    const { auth, logs } = setup(TOKEN_A, TOKEN_B);
    await auth(TOKEN_A, BUDGET_MS);
    expect(logs).toEqual([]);
  });
});

describe('createCallerAuth: reading the secret at start-up (startBudgetMs)', () => {
  /** Collects unhandled rejections while `work` runs, and a little after. */
  async function unhandledDuring(work: () => Promise<void>): Promise<unknown[]> {
    const seen: unknown[] = [];
    const listener = (reason: unknown) => seen.push(reason);
    process.on('unhandledRejection', listener);
    try {
      await work();
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('unhandledRejection', listener);
    }
    return seen;
  }

  function startedAuth(fetchVersion: FetchSecretVersion, logs: LogRecord[] = []) {
    return createCallerAuth({ webhook: 'mutate', fetchVersion, ttlMs: TTL_MS, log: (record) => logs.push(record), startBudgetMs: 5000 });
  }

  it('reads at construction, so the first request is served from the cache', async () => {
    const secrets = fakeSecrets(TOKEN_A);
    const auth = startedAuth(secrets.fetchVersion);
    expect(secrets.calls).toEqual([
      { stage: 'AWSCURRENT', budgetMs: 5000 },
      { stage: 'AWSPREVIOUS', budgetMs: 5000 },
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    expect(await statusOf(auth(WRONG, BUDGET_MS))).toBe(403);
    expect(secrets.count('AWSCURRENT')).toBe(2); // the start, then the wrong token's one mismatch refresh
  });

  it('a request that arrives during the start joins it instead of reading again', async () => {
    const secrets = fakeSecrets(TOKEN_A);
    const release = secrets.hold();
    const auth = startedAuth(secrets.fetchVersion);
    const first = auth(TOKEN_A, BUDGET_MS);
    release();
    await expect(first).resolves.toEqual({});
    expect(secrets.count('AWSCURRENT')).toBe(1);
  });

  it('a start that failed is retried by the first request, which succeeds; no unhandled rejection', async () => {
    const secrets = fakeSecrets(TOKEN_A);
    secrets.fail();
    const logs: LogRecord[] = [];
    const unhandled = await unhandledDuring(async () => {
      const auth = startedAuth(secrets.fetchVersion, logs);
      await new Promise((resolve) => setTimeout(resolve, 5));
      expect(recordsCounting(logs, 'SecretReadFailures')).toHaveLength(1);
      secrets.recover();
      await expect(auth(TOKEN_A, BUDGET_MS)).resolves.toEqual({});
    });
    expect(unhandled).toEqual([]);
    expect(secrets.count('AWSCURRENT')).toBe(2);
  });

  it('a request that joined a start which then fails tries again within its budget', async () => {
    // The start's two reads are held, then fail; every later read succeeds.
    let failStart = () => {};
    const held = new Promise<void>((resolve) => {
      failStart = resolve;
    });
    const calls: VersionStage[] = [];
    const fetchVersion: FetchSecretVersion = async (stage) => {
      calls.push(stage);
      if (calls.length <= 2) {
        await held;
        throw new Error('ThrottlingException: Rate exceeded');
      }
      return stage === 'AWSCURRENT' ? TOKEN_A : undefined;
    };
    const unhandled = await unhandledDuring(async () => {
      const auth = startedAuth(fetchVersion);
      const first = auth(TOKEN_A, BUDGET_MS);
      failStart();
      await expect(first).resolves.toEqual({});
    });
    expect(unhandled).toEqual([]);
    expect(calls).toEqual(['AWSCURRENT', 'AWSPREVIOUS', 'AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('a start that hangs: a request whose budget ends first gets 503 at its budget; no unhandled rejection', async () => {
    const calls: VersionStage[] = [];
    const hanging: FetchSecretVersion = (stage) => {
      calls.push(stage);
      return new Promise<string | undefined>(() => undefined);
    };
    const unhandled = await unhandledDuring(async () => {
      const auth = startedAuth(hanging);
      const started = performance.now();
      const error = await httpError(auth(TOKEN_A, 50));
      const elapsed = performance.now() - started;
      expect(error.statusCode).toBe(503);
      // Bounded by the request's budget (50 ms), not by the start's (5 s).
      expect(elapsed).toBeLessThan(2000);
    });
    expect(unhandled).toEqual([]);
    expect(calls).toEqual(['AWSCURRENT', 'AWSPREVIOUS']);
  });

  it('a start that fails with nothing else going on raises no unhandled rejection', async () => {
    const secrets = fakeSecrets(TOKEN_A);
    secrets.fail();
    const unhandled = await unhandledDuring(async () => {
      startedAuth(secrets.fetchVersion);
      await new Promise((resolve) => setTimeout(resolve, 5));
    });
    expect(unhandled).toEqual([]);
  });
});

describe('createCallerAuth: a request budget bounds a refresh it joins', () => {
  it('answers 503 at the budget when the read started by another request hangs', async () => {
    const { auth, secrets } = setup(TOKEN_A);
    const release = secrets.hold();
    const first = statusOf(auth(TOKEN_A, 10_000));
    const started = performance.now();
    expect(await statusOf(auth(TOKEN_A, 50))).toBe(503);
    expect(performance.now() - started).toBeLessThan(2000);
    release();
    expect(await first).toBe('ok');
  });
});
