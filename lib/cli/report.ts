/**
 * Formats review results and input problems: text for people (the problems go
 * to standard error, one line each, and are counted here), one JSON document
 * for machines (with the problems in `errors`).
 * Changed objects are shown as YAML or, with `diff`, as a unified diff of the
 * object's YAML before and after `mutate`.
 */
import { FILE_HEADERS_ONLY, createTwoFilesPatch } from 'diff';
import { stringify } from 'yaml';
import { type InputProblem, problemText } from './manifests';
import type { ReviewResult } from './review';

export interface ReportOptions {
  diff: boolean;
  /** The policy the objects were judged by: its version, and the file and cluster where given. */
  policy?: { version: string; file?: string | undefined; cluster?: string | undefined };
}

export interface Summary {
  objects: number;
  allowed: number;
  denied: number;
  skipped: number;
  /** Objects `mutate` changed. */
  mutated: number;
  /** Files, documents or objects that could not be read or reviewed. */
  errors: number;
}

export function summarize(results: readonly ReviewResult[], errors: readonly InputProblem[]): Summary {
  const count = (verdict: ReviewResult['verdict']) => results.filter((result) => result.verdict === verdict).length;
  return {
    objects: results.length,
    allowed: count('allowed'),
    denied: count('denied'),
    skipped: count('skipped'),
    mutated: results.filter((result) => result.patch.length > 0).length,
    errors: errors.length,
  };
}

export function toYaml(object: unknown): string {
  return stringify(object, { lineWidth: 0, aliasDuplicateObjects: false });
}

function label(result: ReviewResult): string {
  return `${result.source}:${result.line} ${result.kind}/${result.name}`;
}

/** Unified diff of the object's YAML before and after `mutate`; empty when unchanged. */
export function mutationDiff(result: ReviewResult): string {
  if (result.patch.length === 0) return '';
  const name = label(result);
  return createTwoFilesPatch(name, `${name} (mutated)`, toYaml(result.original), toYaml(result.mutated), undefined, undefined, {
    context: 3,
    headerOptions: FILE_HEADERS_ONLY,
  });
}

const indent = (text: string, prefix: string) =>
  text
    .trimEnd()
    .split('\n')
    .map((line) => `${prefix}${line}`)
    .join('\n');

function textOf(result: ReviewResult, options: ReportOptions): string {
  const namespace = result.namespace === undefined ? '' : ` (namespace ${result.namespace})`;
  const verdict =
    result.verdict === 'denied' ? 'DENIED' : result.verdict === 'skipped' ? 'skipped: not a workload, allowed untouched' : 'allowed';
  const lines = [`${label(result)}${namespace}: ${verdict}`];
  if (result.message !== undefined) lines.push(indent(result.message, '  denied: '));
  for (const warning of result.warnings) lines.push(`  warning: ${warning}`);
  for (const [key, value] of Object.entries(result.auditAnnotations)) lines.push(`  audit ${key}: ${value}`);
  if (result.patch.length > 0) {
    const changes = `${result.patch.length} change${result.patch.length === 1 ? '' : 's'}`;
    if (options.diff) lines.push(`  mutated (${changes}):`, indent(mutationDiff(result), '    '));
    else lines.push(`  mutated (${changes}):`, indent(toYaml(result.mutated), '    '));
  } else if (result.verdict !== 'skipped') {
    const isPod = result.kind === 'Pod' && result.apiVersion === 'v1';
    lines.push(isPod ? '  not changed by mutate' : '  not changed by mutate (it changes the Pods created from this template)');
  }
  return lines.join('\n');
}

const plural = (count: number, noun: string) => `${count} ${noun}${count === 1 ? '' : 's'}`;

export function textReport(results: readonly ReviewResult[], errors: readonly InputProblem[], options: ReportOptions): string {
  const { objects, allowed, denied, skipped, mutated } = summarize(results, errors);
  const unreadable = errors.length === 0 ? '' : `; ${plural(errors.length, 'error')} (on standard error), not reviewed`;
  const summary = `${plural(objects, 'object')}: ${allowed} allowed, ${denied} denied, ${skipped} skipped; ${mutated} changed by mutate${unreadable}`;
  const { policy } = options;
  // Named only where a policy file was given: the no-file form's output stays as it was.
  const judgedBy = policy?.file === undefined ? [] : [`policy ${policy.file}, version ${policy.version}${policy.cluster === undefined ? '' : `, cluster ${policy.cluster}`}`];
  return [...results.map((result) => textOf(result, options)), [summary, ...judgedBy].join('\n')].join('\n\n') + '\n';
}

export function jsonReport(results: readonly ReviewResult[], errors: readonly InputProblem[], options: ReportOptions): string {
  const summary = summarize(results, errors);
  const report = {
    /** True only when every object was read and none was denied (exit status 0). */
    allowed: summary.denied === 0 && summary.errors === 0,
    ...(options.policy ? { policyVersion: options.policy.version } : {}),
    ...(options.policy?.cluster === undefined ? {} : { cluster: options.policy.cluster }),
    summary,
    errors: errors.map((problem) => ({ ...problem, message: problemText(problem) })),
    results: results.map((result) => ({
      source: result.source,
      line: result.line,
      apiVersion: result.apiVersion,
      kind: result.kind,
      name: result.name,
      ...(result.namespace === undefined ? {} : { namespace: result.namespace }),
      verdict: result.verdict,
      allowed: result.verdict !== 'denied',
      ...(result.message === undefined ? {} : { message: result.message }),
      warnings: result.warnings,
      auditAnnotations: result.auditAnnotations,
      patch: result.patch,
      object: result.mutated,
      ...(options.diff ? { diff: mutationDiff(result) } : {}),
    })),
  };
  return `${JSON.stringify(report, null, 2)}\n`;
}
