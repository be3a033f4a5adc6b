/**
 * Cost per million reviews on AWS, from the measured duration per review, the function's memory
 * and list prices, beside what an in-cluster admission engine costs on EKS nodes.
 * `npm run cost [-- --duration-ms <ms>] [--markdown]` on its own (the duration defaults to the
 * 1 ms Lambda bills at least); `npm run bench` calls it with the duration it measured.
 */
import { fileURLToPath } from 'node:url';
import { reviewRecord } from '../lib/common/log';
import { markdownTable, table } from './report';

/**
 * List prices, us-east-1, on-demand, in USD. Taken from the AWS pricing pages as last known
 * (2025); there is no network here to check them again on the day of a run: update them here.
 */
export const PRICES = {
  region: 'us-east-1',
  checked: 'AWS pricing pages as of 2025, not re-checked since',
  /** API Gateway REST API, first 333 million requests a month. */
  apiGatewayRestPerMillion: 3.5,
  /** Lambda, arm64, first 7.5 billion GB-seconds a month. */
  lambdaArmPerGbSecond: 0.0000133334,
  lambdaPerMillionRequests: 0.2,
  /** AWS WAF: web ACL and rules per month, requests per million. */
  wafWebAclPerMonth: 5,
  wafRulePerMonth: 1,
  wafPerMillionRequests: 0.6,
  /** CloudWatch Logs ingestion (standard class), per GB; each event counts 26 bytes more. */
  logsIngestionPerGb: 0.5,
  logEventOverheadBytes: 26,
  /** Secrets Manager: per 10,000 API calls, and per secret a month. */
  secretsManagerPer10kCalls: 0.05,
  secretsManagerSecretPerMonth: 0.4,
  /** EKS node for the in-cluster comparison: m6i.large, 2 vCPU, 8 GiB, Linux on-demand. */
  node: { type: 'm6i.large', perHour: 0.096, vcpus: 2, memoryGiB: 8 },
};

/** What the stack is, and how it runs: what the prices apply to. */
export const ASSUMPTIONS = {
  /** serverless.yml `memorySize`. */
  memoryMb: 512,
  /** The stage's WAF rules (rate limit, IP reputation list, route allow-list). */
  wafRules: 3,
  /** Lambda's own log lines per invocation (START, END, REPORT) and their bytes, text format. */
  platformLogEvents: 3,
  platformLogBytes: 330,
  /**
   * Instances kept warm, over both functions, each re-reading the token secret once per TTL with
   * two calls (AWSCURRENT and AWSPREVIOUS).
   */
  instances: 4,
  secretTtlSeconds: 300,
  secretCallsPerRead: 2,
  /** Kyverno's admission controller, its chart's default requests, three replicas. */
  kyverno: { replicas: 3, cpuRequest: 0.1, memoryRequestGiB: 0.125 },
  hoursPerMonth: 730,
};

export type Prices = typeof PRICES;
export type Assumptions = typeof ASSUMPTIONS;

export interface CostInputs {
  /** Measured handler time of one review, in milliseconds. */
  durationMs: number;
  /** Bytes of the one log line each review writes (its newline included). */
  reviewLogBytes: number;
}

export interface CostLine {
  item: string;
  basis: string;
  /** USD: per million reviews, or per month for the fixed costs. */
  dollars: number;
}

/** Lambda bills duration rounded up to the next millisecond. */
export function billedMs(durationMs: number): number {
  return Math.max(1, Math.ceil(durationMs));
}

/** The variable cost of a million reviews, item by item (the monthly fixed costs are apart). */
export function costPerMillion(inputs: CostInputs, prices: Prices = PRICES, assumptions: Assumptions = ASSUMPTIONS): CostLine[] {
  const gbSeconds = (assumptions.memoryMb / 1024) * (billedMs(inputs.durationMs) / 1000) * 1e6;
  const logBytes =
    inputs.reviewLogBytes + assumptions.platformLogBytes + (1 + assumptions.platformLogEvents) * prices.logEventOverheadBytes;
  return [
    { item: 'API Gateway REST requests', basis: `$${prices.apiGatewayRestPerMillion} per million`, dollars: prices.apiGatewayRestPerMillion },
    { item: 'WAF requests', basis: `$${prices.wafPerMillionRequests} per million`, dollars: prices.wafPerMillionRequests },
    {
      item: 'CloudWatch Logs ingestion',
      basis: `${logBytes} bytes a review (review line ${inputs.reviewLogBytes}, Lambda's lines ${assumptions.platformLogBytes}, event overhead)`,
      dollars: ((logBytes * 1e6) / 1024 ** 3) * prices.logsIngestionPerGb,
    },
    { item: 'Lambda requests', basis: `$${prices.lambdaPerMillionRequests} per million`, dollars: prices.lambdaPerMillionRequests },
    {
      item: 'Lambda duration (arm64)',
      basis: `${billedMs(inputs.durationMs)} ms billed x ${assumptions.memoryMb} MB = ${gbSeconds} GB-s`,
      dollars: gbSeconds * prices.lambdaArmPerGbSecond,
    },
  ];
}

/** Costs that do not grow with reviews, per month. */
export function monthlyFixed(prices: Prices = PRICES, assumptions: Assumptions = ASSUMPTIONS): CostLine[] {
  const secondsPerMonth = assumptions.hoursPerMonth * 3600;
  const calls = (assumptions.instances * assumptions.secretCallsPerRead * secondsPerMonth) / assumptions.secretTtlSeconds;
  return [
    {
      item: 'WAF web ACL and rules',
      basis: `1 web ACL + ${assumptions.wafRules} rules`,
      dollars: prices.wafWebAclPerMonth + assumptions.wafRules * prices.wafRulePerMonth,
    },
    {
      item: 'Secrets Manager calls',
      basis: `${assumptions.instances} instances x ${assumptions.secretCallsPerRead} calls every ${assumptions.secretTtlSeconds} s = ${calls} calls`,
      dollars: (calls / 10_000) * prices.secretsManagerPer10kCalls,
    },
    { item: 'Secrets Manager secret', basis: '1 secret', dollars: prices.secretsManagerSecretPerMonth },
  ];
}

/**
 * Monthly cost of the in-cluster engine: each replica pays for the share of a node its requests
 * take, by whichever of CPU and memory takes the larger share (what runs out first when pods are
 * packed onto the node).
 */
export function inClusterMonthly(prices: Prices = PRICES, assumptions: Assumptions = ASSUMPTIONS): number {
  const { node } = prices;
  const { replicas, cpuRequest, memoryRequestGiB } = assumptions.kyverno;
  const share = Math.max(cpuRequest / node.vcpus, memoryRequestGiB / node.memoryGiB);
  return replicas * share * node.perHour * assumptions.hoursPerMonth;
}

export const sum = (lines: readonly CostLine[]): number => lines.reduce((total, line) => total + line.dollars, 0);

const usd = (value: number): string => (value >= 0.1 ? `$${value.toFixed(2)}` : `$${value.toFixed(4)}`);

/** The review log line's size in bytes, newline included, for a typical allowed review. */
export function measuredReviewLogBytes(): number {
  const record = reviewRecord({
    webhook: 'validate',
    uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
    kind: 'Pod',
    namespace: 'default',
    name: 'python-app',
    operation: 'CREATE',
    subResource: undefined,
    decision: 'allowed',
    patchOperations: 0,
    durationMs: 0.0123,
    cluster: undefined,
    policyVersion: '3f2a9c41d07e',
    exceptions: undefined,
    violation: undefined,
  });
  return Buffer.byteLength(`${JSON.stringify(record)}\n`);
}

/** The cost tables, as plain text or markdown. */
export function costReport(inputs: CostInputs, markdown = false): string {
  const format = markdown ? markdownTable : table;
  const variable = costPerMillion(inputs);
  const fixed = monthlyFixed();
  const total = sum(variable);
  const fixedTotal = sum(fixed);
  const dominant = [...variable].sort((a, b) => b.dollars - a.dollars)[0];
  const cluster = inClusterMonthly();
  const { node } = PRICES;
  const { kyverno } = ASSUMPTIONS;
  const volumes = [1, 10, 100];
  return [
    `Cost per million reviews, ${PRICES.region} list prices (${PRICES.checked}); measured ${inputs.durationMs} ms a review, ${ASSUMPTIONS.memoryMb} MB`,
    format(
      ['item', 'basis', 'per million reviews'],
      [...variable.map((line) => [line.item, line.basis, usd(line.dollars)]), ['total', '', usd(total)]],
    ),
    `Dominant input: ${dominant?.item} (${Math.round(((dominant?.dollars ?? 0) / total) * 100)}% of the per-review cost).`,
    '',
    'Fixed, per month (whatever the number of reviews)',
    format(['item', 'basis', 'per month'], [...fixed.map((line) => [line.item, line.basis, usd(line.dollars)]), ['total', '', usd(fixedTotal)]]),
    '',
    `In-cluster engine: ${kyverno.replicas} Kyverno admission replicas requesting ${kyverno.cpuRequest} vCPU and ${kyverno.memoryRequestGiB} GiB each, ` +
      `on ${node.type} nodes ($${node.perHour}/h for ${node.vcpus} vCPU, ${node.memoryGiB} GiB): ${usd(cluster)} a month, whatever the number of reviews`,
    format(
      ['reviews a month', 'serverless (per-review + fixed)', 'in-cluster'],
      volumes.map((millions) => [`${millions} million`, usd(total * millions + fixedTotal), usd(cluster)]),
    ),
  ].join('\n');
}

function main(): void {
  const args = process.argv.slice(2);
  const at = args.indexOf('--duration-ms');
  const durationMs = at === -1 ? 1 : Number(args[at + 1]);
  if (!(durationMs > 0)) throw new Error('--duration-ms must be a positive number of milliseconds');
  console.log(costReport({ durationMs, reviewLogBytes: measuredReviewLogBytes() }, args.includes('--markdown')));
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
