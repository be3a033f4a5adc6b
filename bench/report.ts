/** Plain-text tables and the targets the figures are judged against. */

export function table(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const cells = [headers, ...rows].map((row) => row.map(String));
  const widths = headers.map((_, column) => Math.max(...cells.map((row) => (row[column] ?? '').length)));
  const line = (row: readonly string[]) =>
    row.map((cell, column) => (column === 0 ? cell.padEnd(widths[column] ?? 0) : cell.padStart(widths[column] ?? 0))).join('  ');
  const [head, ...body] = cells;
  return [line(head ?? []), widths.map((width) => '-'.repeat(width)).join('  '), ...body.map(line)].join('\n');
}

/** The same table in GitHub markdown, to paste into docs/performance.md (numbers right-aligned). */
export function markdownTable(headers: readonly string[], rows: readonly (readonly (string | number)[])[]): string {
  const numeric = headers.map((_, column) => rows.length > 0 && rows.every((row) => /^[\d$+.,x -]*[\d.]+\s*(?:µs|ms|KiB|B|%|x)?$|^$/.test(String(row[column] ?? ''))));
  const line = (row: readonly (string | number)[]) => `| ${row.map((cell) => String(cell).replaceAll('|', '\\|')).join(' | ')} |`;
  return [line(headers), `| ${numeric.map((right) => (right ? '---:' : '---')).join(' | ')} |`, ...rows.map(line)].join('\n');
}

export const TARGETS = {
  /**
   * Each zipped bundle: set when the AWS SDK was left to the Lambda runtime; missed since the
   * Secrets Manager client is bundled for a faster authenticated cold start (docs/performance.md).
   */
  zipBytesMax: 16 * 1024,
  /** Cold start (process wall time, spawn to exit) above a bare `node -e 0`. */
  coldStartOverFloorMsMax: 25,
  /** The same with authentication on, the SDK started and the secret read (issue 19). */
  authenticatedColdStartOverFloorMsMax: 60,
  /** Warm p50 time per review over the floor's (JSON.parse + JSON.stringify of the same payload). */
  warmRatioMax: 2,
  /** Reviews per second over HTTP, as a share of an empty handler's that writes the same log line. */
  httpRatioMin: 0.85,
  /** p99 per review for the tutorial Pod, in process. */
  tutorialP99MsMax: 0.2,
  /**
   * Linear growth: the marginal cost per container from 100 to 1,000 containers
   * may be at most this multiple of the marginal cost from 10 to 100 (a quadratic
   * cost would make it about 10).
   */
  marginalSlopeRatioMax: 1.5,
} as const;

export interface TargetCheck {
  target: string;
  value: string;
  met: boolean;
}

export const verdict = (met: boolean): string => (met ? 'met' : 'MISSED');

/** Marginal cost per container between two sizes, from their times per review. */
export function marginalPerContainer(small: { containers: number; ms: number }, large: { containers: number; ms: number }): number {
  return (large.ms - small.ms) / (large.containers - small.containers);
}
