/**
 * What a large fleet policy adds to a cold start (issue "Fleet policy": 200 clusters and 500
 * exceptions must start in under 50 ms over a cold start without a policy file). Fresh `node`
 * processes load the validate bundle and answer the tutorial Pod, with POLICY_FILE naming the
 * JSON packaging would write for such a fleet, for the default policy.yaml, or nothing (the
 * policy variables); rounds interleave them, as bench/cold-start.ts does.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GatewayEvent } from '../lib/transport/http';
import { bundleRun } from './cold-start';
import { median } from './stats';
import { defaultEnvironment } from './warm';

/** A fleet: each cluster with its own mirror, namespace entries and source addresses; pull secrets and exceptions across them. */
export function largeFleetPolicy(clusters = 200, exceptions = 500): Record<string, unknown> {
  const names = Array.from({ length: clusters }, (_, index) => `cluster-${index}`);
  return {
    version: 1,
    defaults: {
      allowedRegistries: ['registry.example.com', '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub'],
      imagePullSecrets: ['registry-credentials', { name: 'ecr-creds', registries: ['111122223333.dkr.ecr.eu-west-1.amazonaws.com'] }],
      disallowedTags: ['latest'],
    },
    namespaces: { 'team-a-*': { allowedRegistries: ['registry.example.com/team-a'] }, sandbox: { validationAction: 'warn' } },
    clusters: Object.fromEntries(
      names.map((name, index) => [
        name,
        {
          validationAction: index % 2 === 0 ? 'deny' : 'warn',
          requireDigest: index % 3 === 0,
          imageMirrors: { 'docker.io': `111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub/${name}` },
          namespaces: { [`team-${index}-*`]: { allowedRegistries: [`registry.example.com/team-${index}`] } },
          // Bound to its NAT addresses: a BlockList per cluster is compiled at start-up.
          sourceIps: [`198.51.${index % 256}.7`, `203.0.${index % 256}.16/28`, `2001:db8:${index.toString(16)}::/56`],
        },
      ]),
    ),
    exceptions: Array.from({ length: exceptions }, (_, index) => ({
      name: `exception-${index}`,
      reason: `OPS-${index}`,
      expires: '2999-12-31',
      clusters: [names[index % clusters]],
      namespaces: [`debug-${index % 7}-*`],
      images: [`docker.io/library/tool-${index}`, `quay.example.org/team-${index % 13}/tool`],
    })),
  };
}

export interface FleetStartReport {
  runs: number;
  /** Median wall time (spawn to exit) per variant, ms. */
  wallMs: Record<'noFile' | 'defaultPolicy' | 'largeFleet', number>;
  /** Median time of `require(bundle)` (module initialisation: the policy read and compiled) per variant, ms. */
  initMs: Record<'noFile' | 'defaultPolicy' | 'largeFleet', number>;
  policyBytes: number;
}

export function fleetStarts(bundle: string, event: GatewayEvent, defaultPolicyJson: string, workDir: string, runs = 21, warmupRuns = 2): FleetStartReport {
  const eventFile = join(workDir, 'fleet-start-event.json');
  writeFileSync(eventFile, JSON.stringify(event));
  const largeFile = join(workDir, 'large-fleet-policy.json');
  const large = JSON.stringify(largeFleetPolicy());
  writeFileSync(largeFile, large);
  const defaultFile = join(workDir, 'default-policy.json');
  writeFileSync(defaultFile, defaultPolicyJson);
  const base = defaultEnvironment();
  const variants = {
    noFile: base,
    defaultPolicy: { ...base, POLICY_FILE: defaultFile },
    largeFleet: { ...base, POLICY_FILE: largeFile },
  } as const;
  const walls: Record<string, number[]> = { noFile: [], defaultPolicy: [], largeFleet: [] };
  const inits: Record<string, number[]> = { noFile: [], defaultPolicy: [], largeFleet: [] };
  for (let round = 0; round < warmupRuns + runs; round += 1) {
    for (const [name, env] of Object.entries(variants)) {
      const sample = bundleRun(bundle, eventFile, env);
      if (sample.statusCode !== 200) throw new Error(`the ${name} cold start answered ${sample.statusCode}`);
      if (round < warmupRuns) continue;
      walls[name]?.push(sample.wallMs);
      inits[name]?.push(sample.initMs);
    }
  }
  const medians = (series: Record<string, number[]>) =>
    Object.fromEntries(Object.entries(series).map(([name, values]) => [name, median(values)])) as FleetStartReport['wallMs'];
  return { runs, wallMs: medians(walls), initMs: medians(inits), policyBytes: Buffer.byteLength(large) };
}
