import { afterAll, beforeAll } from 'vitest';

/**
 * Silences console.log for the whole suite: the handlers log one JSON line per review, and
 * suites that send thousands of reviews would only be slowed down by buffering them.
 */
export function silenceConsoleLog(): void {
  let original: typeof console.log | undefined;
  beforeAll(() => {
    original = console.log;
    console.log = () => undefined;
  });
  afterAll(() => {
    if (original) console.log = original;
  });
}
