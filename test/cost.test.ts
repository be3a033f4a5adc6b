/** The cost arithmetic of bench/cost.ts, on inputs whose answers were worked out by hand. */
import { describe, expect, it } from 'vitest';
import { ASSUMPTIONS, PRICES, billedMs, costPerMillion, costReport, inClusterMonthly, monthlyFixed, sum } from '../bench/cost';

const prices = { ...PRICES, lambdaArmPerGbSecond: 0.00001 };
const assumptions = { ...ASSUMPTIONS, memoryMb: 1024 };
const byItem = (lines: { item: string; dollars: number }[]) => Object.fromEntries(lines.map((line) => [line.item, line.dollars]));

describe('cost per million reviews', () => {
  it('bills Lambda duration rounded up to the next millisecond, at least 1 ms', () => {
    expect(billedMs(0.012)).toBe(1);
    expect(billedMs(1)).toBe(1);
    expect(billedMs(2.01)).toBe(3);
  });

  it('adds up each item from the prices', () => {
    const lines = byItem(costPerMillion({ durationMs: 0.3, reviewLogBytes: 500 }, prices, assumptions));
    expect(lines['API Gateway REST requests']).toBe(3.5);
    expect(lines['WAF requests']).toBe(0.6);
    expect(lines['Lambda requests']).toBe(0.2);
    // 1 GB x 0.001 s (0.3 ms billed as 1 ms) x 1,000,000 = 1,000 GB-s at $0.00001.
    expect(lines['Lambda duration (arm64)']).toBeCloseTo(0.01, 10);
    // 500 + 330 (Lambda's lines) + 4 events x 26 = 934 bytes; 934e6 / 2^30 GB at $0.50.
    expect(lines['CloudWatch Logs ingestion']).toBeCloseTo(0.434928, 6);
    expect(sum(costPerMillion({ durationMs: 0.3, reviewLogBytes: 500 }, prices, assumptions))).toBeCloseTo(4.744928, 6);
  });

  it('grows Lambda duration with the billed milliseconds', () => {
    const twoMs = byItem(costPerMillion({ durationMs: 1.5, reviewLogBytes: 500 }, prices, assumptions));
    expect(twoMs['Lambda duration (arm64)']).toBeCloseTo(0.02, 10);
  });

  it('counts the fixed costs per month', () => {
    const fixed = byItem(monthlyFixed(prices, assumptions));
    expect(fixed['WAF web ACL and rules']).toBe(5 + 3 * 1);
    // 4 instances x 2 calls x (730 h x 3,600 s / 300 s) = 70,080 calls at $0.05 per 10,000.
    expect(fixed['Secrets Manager calls']).toBeCloseTo(0.3504, 10);
    expect(fixed['Secrets Manager secret']).toBe(0.4);
  });

  it('charges each in-cluster replica the larger of its CPU and memory share of a node', () => {
    // 0.1 of 2 vCPU = 5% beats 0.125 of 8 GiB = 1.6%: 3 x 0.05 x $0.096 x 730 h.
    expect(inClusterMonthly(prices, assumptions)).toBeCloseTo(10.512, 10);
    const memoryBound = { ...assumptions, kyverno: { replicas: 2, cpuRequest: 0.1, memoryRequestGiB: 2 } };
    // 2 GiB of 8 = 25%: 2 x 0.25 x $0.096 x 730 h.
    expect(inClusterMonthly(prices, memoryBound)).toBeCloseTo(35.04, 10);
  });

  it('names the dominant input in the report', () => {
    const report = costReport({ durationMs: 0.012, reviewLogBytes: 500 });
    expect(report).toContain('Dominant input: API Gateway REST requests');
    expect(costReport({ durationMs: 0.012, reviewLogBytes: 500 }, true)).toContain('| API Gateway REST requests |');
  });
});
