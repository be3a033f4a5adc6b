/**
 * `review --policy NEW --compare OLD`: the same manifests reviewed under two policies, and every
 * object whose verdict or patch changes, so a platform team sees what a policy change breaks
 * before it ships.
 */
import { type InputProblem, problemText } from './manifests';
import { toYaml } from './report';
import type { ReviewResult, Verdict } from './review';

export interface PolicyLabel {
  file: string;
  version: string;
}

/** One object reviewed under both policies. */
export interface ReviewPair {
  old: ReviewResult;
  new: ReviewResult;
}

export interface Change {
  pair: ReviewPair;
  verdictChanged: boolean;
  patchChanged: boolean;
  /** Allowed (or skipped) under the old policy, denied under the new one. */
  newlyDenied: boolean;
}

const allows = (verdict: Verdict) => verdict !== 'denied';

export function changesOf(pairs: readonly ReviewPair[]): Change[] {
  return pairs.flatMap((pair) => {
    const verdictChanged = pair.old.verdict !== pair.new.verdict;
    const patchChanged = JSON.stringify(pair.old.patch) !== JSON.stringify(pair.new.patch);
    if (!verdictChanged && !patchChanged) return [];
    return [{ pair, verdictChanged, patchChanged, newlyDenied: allows(pair.old.verdict) && !allows(pair.new.verdict) }];
  });
}

function describeSide(result: ReviewResult, prefix: string): string[] {
  const lines = [`  ${prefix}: ${result.verdict}`];
  if (result.message !== undefined) lines.push(`    ${result.message}`);
  for (const warning of result.warnings) lines.push(`    warning: ${warning}`);
  if (result.patch.length > 0) lines.push(...toYaml(result.patch).trimEnd().split('\n').map((line) => `    ${line}`));
  return lines;
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

export function compareText(changes: readonly Change[], pairs: number, policies: { old: PolicyLabel; new: PolicyLabel }, errors: readonly InputProblem[]): string {
  const blocks = changes.map(({ pair, verdictChanged, patchChanged }) => {
    const { new: result } = pair;
    const namespace = result.namespace === undefined ? '' : ` (namespace ${result.namespace})`;
    const what = [verdictChanged ? `${pair.old.verdict} -> ${result.verdict}` : undefined, patchChanged ? 'patch changed' : undefined].filter(Boolean).join(', ');
    return [`${result.source}:${result.line} ${result.kind}/${result.name}${namespace}: ${what}`, ...describeSide(pair.old, 'old'), ...describeSide(result, 'new')].join('\n');
  });
  const newlyDenied = changes.filter((change) => change.newlyDenied).length;
  const unreadable = errors.length === 0 ? '' : `; ${plural(errors.length, 'error')} (on standard error), not compared`;
  const summary =
    `${policies.new.file} (version ${policies.new.version}) against ${policies.old.file} (version ${policies.old.version}): ` +
    `${plural(pairs, 'object')}, ${changes.length} changed, ${newlyDenied} newly denied${unreadable}`;
  return [...blocks, summary].join('\n\n') + '\n';
}

export function compareJson(changes: readonly Change[], pairs: number, policies: { old: PolicyLabel; new: PolicyLabel }, errors: readonly InputProblem[]): string {
  const side = (result: ReviewResult) => ({
    verdict: result.verdict,
    ...(result.message === undefined ? {} : { message: result.message }),
    warnings: result.warnings,
    patch: result.patch,
  });
  const report = {
    policies,
    summary: { objects: pairs, changed: changes.length, newlyDenied: changes.filter((change) => change.newlyDenied).length, errors: errors.length },
    errors: errors.map((problem) => ({ ...problem, message: problemText(problem) })),
    changes: changes.map(({ pair, verdictChanged, patchChanged, newlyDenied }) => ({
      source: pair.new.source,
      line: pair.new.line,
      apiVersion: pair.new.apiVersion,
      kind: pair.new.kind,
      name: pair.new.name,
      ...(pair.new.namespace === undefined ? {} : { namespace: pair.new.namespace }),
      verdictChanged,
      patchChanged,
      newlyDenied,
      old: side(pair.old),
      new: side(pair.new),
    })),
  };
  return `${JSON.stringify(report, null, 2)}\n`;
}
