/** Small statistics over timing samples (milliseconds). */

/** The q-quantile (0..1) of ascending-sorted samples, by linear interpolation between closest ranks. */
export function quantile(sorted: readonly number[], q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const position = (sorted.length - 1) * Math.min(1, Math.max(0, q));
  const below = Math.floor(position);
  const above = Math.ceil(position);
  const low = sorted[below] as number;
  const high = sorted[above] as number;
  return low + (high - low) * (position - below);
}

export function median(samples: readonly number[]): number {
  return quantile([...samples].sort((a, b) => a - b), 0.5);
}

export interface Summary {
  samples: number;
  p50Ms: number;
  p99Ms: number;
  meanMs: number;
}

export function summarise(samples: ArrayLike<number>): Summary {
  const sorted = Array.from(samples).sort((a, b) => a - b);
  const total = sorted.reduce((sum, value) => sum + value, 0);
  return {
    samples: sorted.length,
    p50Ms: quantile(sorted, 0.5),
    p99Ms: quantile(sorted, 0.99),
    meanMs: sorted.length === 0 ? Number.NaN : total / sorted.length,
  };
}

/** Rounds for display and for the JSON line: 3 significant digits is all a benchmark can claim. */
export function round(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const magnitude = Math.floor(Math.log10(Math.abs(value)));
  const factor = 10 ** (digits - 1 - magnitude);
  return Math.round(value * factor) / factor;
}
