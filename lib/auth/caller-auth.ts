/**
 * Caller authentication by a secret path segment, checked against a token kept
 * in Secrets Manager (design: "Routes and caller authentication").
 *
 * - The secret is cached for `ttlMs`; both its AWSCURRENT and AWSPREVIOUS
 *   versions are accepted, so rotation never locks out a cluster.
 * - While Secrets Manager fails, a cached value keeps serving and a refresh is
 *   tried at most every RETRY_AFTER_FAILURE_MS; with nothing cached the request
 *   fails closed with 503.
 * - A token matching neither version triggers one refresh, at most every
 *   MISMATCH_REFRESH_MS, so a cluster switched to a new token gets in quickly.
 * - AWSCURRENT alone is enough: a refresh serves as soon as it is in, and
 *   AWSPREVIOUS joins the cache when it arrives (a token that matches neither
 *   waits for it within its budget); a failed AWSPREVIOUS read (throttling,
 *   KMS, access denied) is logged.
 * - With `startBudgetMs`, the first read starts at once (in Lambda's init
 *   phase, before any request); a request joins it within its own budget, and
 *   a start that failed is retried by the request (no back-off, no unhandled rejection).
 * - A read that fails long after its budget was frozen with the instance, not
 *   failed by Secrets Manager (see FROZEN_SLACK_MS): it is not counted.
 * - Comparison is constant-time and the token is never logged.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { isObject } from '../common/json';
import { type LogSink, eventRecord } from '../common/log';
import { HttpError } from '../common/status';

export interface Caller {
  /** The cluster whose token matched, for fleets with one token per cluster. */
  cluster?: string;
}

/** Where a request came from, as API Gateway saw it (DESIGN "Cluster identity"). */
export interface RequestOrigin {
  sourceIp?: string;
  /** The execute-api VPC endpoint a private API's request came through. */
  vpceId?: string;
}

/**
 * Checks the caller's path token within `budgetMs` (and, where the matched cluster is bound to
 * where it calls from, the request's origin); throws an HttpError with 403 (missing or wrong
 * token) or 503 (the token cannot be checked).
 */
export type Authenticate = (token: string | undefined, budgetMs: number, origin?: RequestOrigin) => Promise<Caller>;

/** The refusal of a wrong token: also what a right token from the wrong place gets, word for word. */
export const WRONG_TOKEN = 'the caller token is not valid';

export const RETRY_AFTER_FAILURE_MS = 10_000;
export const MISMATCH_REFRESH_MS = 30_000;
/**
 * How much later than its budget a read can end while the process runs (a busy event loop). One
 * that ends later was stopped meanwhile: Lambda freezes an instance after init (a provisioned one
 * until its first request) and between requests, and a read's deadline runs on while it is frozen,
 * so the read fails when the instance thaws. That is no failure of Secrets Manager: it is logged
 * without the SecretReadFailures metric (whose alarm fires on one), and starts no back-off.
 */
export const FROZEN_SLACK_MS = 1000;

export type VersionStage = 'AWSCURRENT' | 'AWSPREVIOUS';

/** Reads one version of the secret; resolves undefined where that version does not exist. */
export type FetchSecretVersion = (stage: VersionStage, budgetMs: number) => Promise<string | undefined>;

interface TokenEntry {
  cluster: string | undefined;
  digest: Buffer;
}

export interface CallerAuthOptions {
  /** The webhook this authenticates for: the dimension of its metrics. */
  webhook: string;
  fetchVersion: FetchSecretVersion;
  ttlMs: number;
  log: LogSink;
  /** Start reading the secret now, with this budget, instead of in the first request. */
  startBudgetMs?: number;
  /** Told the cluster names of the secret after each successful read (undefined: a single-token secret). */
  onClusters?: (clusters: readonly (string | undefined)[]) => void;
  now?: () => number;
}

const digestOf = (token: string): Buffer => createHash('sha256').update(token, 'utf8').digest();

/**
 * The tokens in one secret value: a plain string, `{"token": "..."}`, or
 * `{"tokens": {"<cluster>": "<token>"}}`. Throws on anything else, without
 * quoting the value.
 */
export function parseTokenSecret(secret: string): { cluster: string | undefined; token: string }[] {
  const text = secret.trim();
  if (text === '') throw new Error('the secret is empty');
  if (!text.startsWith('{')) return [{ cluster: undefined, token: text }];
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new Error('the secret starts with "{" but is not valid JSON');
  }
  if (isObject(parsed) && typeof parsed.token === 'string' && parsed.token !== '') {
    return [{ cluster: undefined, token: parsed.token }];
  }
  if (isObject(parsed) && isObject(parsed.tokens)) {
    const entries = Object.entries(parsed.tokens);
    if (entries.length > 0 && entries.every(([, token]) => typeof token === 'string' && token !== '')) {
      return entries.map(([cluster, token]) => ({ cluster, token: token as string }));
    }
  }
  throw new Error('the secret JSON must be {"token": "..."} or {"tokens": {"<cluster>": "<token>"}} with non-empty strings');
}

/** The tokens of a secret value as digests, for constant-time comparison. */
export function tokensFromSecret(secret: string): TokenEntry[] {
  return parseTokenSecret(secret).map(({ cluster, token }) => ({ cluster, digest: digestOf(token) }));
}

/** Compares against every entry, without stopping early, so timing does not tell which matched. */
function findCaller(token: string, entries: readonly TokenEntry[]): Caller | undefined {
  const candidate = digestOf(token);
  let match: Caller | undefined;
  for (const entry of entries) {
    if (timingSafeEqual(candidate, entry.digest) && match === undefined) {
      match = entry.cluster === undefined ? {} : { cluster: entry.cluster };
    }
  }
  return match;
}

const describeError = (error: unknown): string => (error instanceof Error ? `${error.name}: ${error.message}` : String(error));

/** `promise`, or what `atDeadline` returns (or throws) once `ms` pass first. */
function withDeadline<T>(promise: Promise<T>, ms: number, atDeadline: () => T): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<T>((resolve, reject) => {
    timer = setTimeout(() => {
      try {
        resolve(atDeadline());
      } catch (error) {
        reject(error);
      }
    }, ms);
  });
  return Promise.race([promise, deadline]).finally(() => clearTimeout(timer));
}

export function createCallerAuth({ webhook, fetchVersion, ttlMs, log, startBudgetMs, onClusters, now = Date.now }: CallerAuthOptions): Authenticate {
  let cached: { entries: TokenEntry[]; fetchedAt: number } | undefined;
  let lastFailureAt = Number.NEGATIVE_INFINITY;
  let lastMismatchRefreshAt = Number.NEGATIVE_INFINITY;
  let inFlight: Promise<TokenEntry[]> | undefined;
  /** The read begun at start-up (startBudgetMs), while it runs. */
  let startRead: Promise<TokenEntry[]> | undefined;
  /** The latest refresh's AWSPREVIOUS read, until it has joined that refresh's entries (or failed). */
  let previousRead: Promise<void> | undefined;

  const readFailure = (message: string, error: unknown) =>
    log(eventRecord({ level: 'WARN', message, webhook, error: describeError(error) }, 'SecretReadFailures'));
  /** Whether a read begun at `begun` with `budgetMs` ended too late to have run all along: the instance was frozen. */
  const wasFrozen = (begun: number, budgetMs: number) => now() - begun > budgetMs + FROZEN_SLACK_MS;
  const frozenRead = (version: string, error: unknown) =>
    log({ level: 'INFO', message: `token secret ${version} read outlasted its budget while the instance was frozen; not counted as a failure`, webhook, error: describeError(error) });

  /**
   * Reads both versions and resolves with AWSCURRENT's entries as soon as it is in: a slow
   * AWSPREVIOUS must not hold up serving (a cold instance would answer 503). The previous version's
   * entries join the same list when they arrive.
   */
  async function fetchEntries(budgetMs: number): Promise<TokenEntry[]> {
    const begun = now();
    const current = fetchVersion('AWSCURRENT', budgetMs);
    const previous = fetchVersion('AWSPREVIOUS', budgetMs).then(
      (value) => ({ value }),
      (error: unknown) => ({ error }),
    );
    const value = await current;
    if (value === undefined) throw new Error('the secret has no AWSCURRENT version');
    const entries = tokensFromSecret(value);
    const joining = previous.then((outcome) => {
      if ('error' in outcome) {
        // Throttling, KMS or access denied on the previous version: AWSCURRENT is enough to serve.
        if (wasFrozen(begun, budgetMs)) frozenRead('AWSPREVIOUS', outcome.error);
        else readFailure('token secret AWSPREVIOUS could not be read; serving with AWSCURRENT', outcome.error);
      } else if (outcome.value !== undefined) {
        try {
          entries.push(...tokensFromSecret(outcome.value));
        } catch {
          // A malformed previous version must not block the current one.
        }
      }
    });
    previousRead = joining;
    void joining.then(() => {
      if (previousRead === joining) previousRead = undefined;
    });
    return entries;
  }

  /** A caller for a token that matched none of `entries` yet, once the AWSPREVIOUS read under way is in (within `budgetMs`). */
  async function afterPreviousRead(token: string, entries: readonly TokenEntry[], budgetMs: number): Promise<Caller | undefined> {
    if (!previousRead) return undefined;
    await withDeadline(previousRead, budgetMs, () => undefined);
    return findCaller(token, entries);
  }

  /**
   * Refreshes the cache once for all concurrent callers. A failure is recorded and logged once,
   * then every waiter gets the stale value, or a 503 when nothing is cached. A failed start
   * (`backOff` false) leaves no back-off, so the first request tries again.
   */
  function refresh(budgetMs: number, backOff = true): Promise<TokenEntry[]> {
    const begun = now();
    inFlight ??= fetchEntries(budgetMs)
      .then(
        (entries) => {
          cached = { entries, fetchedAt: now() };
          onClusters?.(entries.map((entry) => entry.cluster));
          return entries;
        },
        (error: unknown) => {
          if (wasFrozen(begun, budgetMs)) frozenRead('AWSCURRENT', error);
          else {
            if (backOff) lastFailureAt = now();
            readFailure(cached ? 'token secret refresh failed; serving the cached value' : 'token secret could not be read', error);
          }
          return staleOrUnavailable();
        },
      )
      .finally(() => {
        inFlight = undefined;
      });
    return inFlight;
  }

  /**
   * A refresh, but no longer than this request's budget: past it, the stale value or a 503.
   * A request that joined the start-up read and saw it fail tries once more in what is left.
   */
  function refreshWithin(budgetMs: number): Promise<TokenEntry[]> {
    const begun = now();
    const joinsStart = inFlight !== undefined && inFlight === startRead;
    const read = joinsStart ? refresh(budgetMs).catch(() => refresh(Math.max(1, budgetMs - (now() - begun)))) : refresh(budgetMs);
    return withDeadline(read, budgetMs, staleOrUnavailable);
  }

  function staleOrUnavailable(): TokenEntry[] {
    if (cached) return cached.entries;
    throw new HttpError(503, 'the webhook cannot check its caller right now; try again');
  }

  async function entriesFor(budgetMs: number): Promise<TokenEntry[]> {
    const time = now();
    if (cached && time - cached.fetchedAt < ttlMs) return cached.entries;
    if (time - lastFailureAt < RETRY_AFTER_FAILURE_MS) return staleOrUnavailable();
    return refreshWithin(budgetMs);
  }

  /**
   * Whether an unknown token may read the secret again: always by joining a refresh already
   * under way (otherwise a cluster switched to a rotated token would see every request but the
   * first refused while the refresh that accepts it runs), else at most every
   * MISMATCH_REFRESH_MS and not while Secrets Manager is failing.
   */
  function mayRefreshForMismatch(time: number): boolean {
    if (inFlight) return true;
    if (time - lastMismatchRefreshAt < MISMATCH_REFRESH_MS || time - lastFailureAt < RETRY_AFTER_FAILURE_MS) return false;
    lastMismatchRefreshAt = time;
    return true;
  }

  const authenticate: Authenticate = async (token, budgetMs) => {
    if (token === undefined) throw new HttpError(403, 'a caller token is required in the webhook path');
    const begun = now();
    const fetchedBefore = cached?.fetchedAt;
    const entries = await entriesFor(budgetMs);
    const caller = findCaller(token, entries) ?? (await afterPreviousRead(token, entries, Math.max(1, budgetMs - (now() - begun))));
    if (caller) return caller;
    const justFetched = cached !== undefined && cached.fetchedAt !== fetchedBefore;
    if (!justFetched && mayRefreshForMismatch(now())) {
      const retried = findCaller(token, await refreshWithin(budgetMs));
      if (retried) return retried;
    }
    throw new HttpError(403, WRONG_TOKEN);
  };

  if (startBudgetMs !== undefined) {
    startRead = refresh(startBudgetMs, false);
    // Its outcome is handled inside refresh(); this catch only keeps a 503 from going unhandled.
    startRead.catch(() => undefined).finally(() => {
      startRead = undefined;
    });
  }
  return authenticate;
}

/** Authentication switched off (no secret configured): warns once, then lets every caller in. */
export function createOpenAuth(log: LogSink): Authenticate {
  let warned = false;
  return async () => {
    if (!warned) {
      warned = true;
      log({ level: 'WARN', message: 'WEBHOOK_TOKEN_SECRET_ID is not set: caller authentication is off' });
    }
    return {};
  };
}
