/**
 * Reads a policy file (YAML 1.2, or JSON) for the tools: the review command, `policy check` and
 * `policy show`, packaging and webhook-config. Every problem is reported as `file:line:column:
 * field: message`, at the offending key or value (for a missing field, at its map), as tsc and
 * kubectl report theirs. The functions never load this module: they read the JSON that packaging
 * writes (lib/setup.ts).
 */
import { readFileSync } from 'node:fs';
import { LineCounter, type Node, isMap, isScalar, isSeq, parseDocument, visit } from 'yaml';
import { ConfigError, loadConfig } from '../policies/fleet/config';
import { type FleetPolicy, createFleetPolicy } from '../policies/fleet/fleet-policy';
import { type CompiledPolicy, checkPolicyDocument } from '../policies/fleet/policy-document';
import { type FieldPath, type PolicyProblem, formatPath } from '../policies/fleet/policy-fields';
import { policyVersion } from '../policies/fleet/policy-version';

export interface PositionedProblem {
  line: number;
  column: number;
  /** The field, as `clusters.prod-eu.imageMirrors`; empty for the whole document. */
  field: string;
  message: string;
}

export interface PolicyFileCheck {
  file: string;
  /** The parsed document, when the file is YAML or JSON at all. */
  document: unknown;
  /** Undefined when there are problems. */
  policy: CompiledPolicy | undefined;
  version: string | undefined;
  /** The policy ready for lookups per cluster and namespace, as the functions build it. */
  fleet: FleetPolicy | undefined;
  problems: PositionedProblem[];
  warnings: PositionedProblem[];
}

/** `file:line:column: field: message`, or `file:line:column: warning: field: message`. */
export function problemLine(file: string, problem: PositionedProblem, severity?: 'warning'): string {
  return `${file}:${problem.line}:${problem.column}: ${severity ? `${severity}: ` : ''}${problem.field === '' ? '' : `${problem.field}: `}${problem.message}`;
}

/** The key node and value node at `path`, as far down as the path exists. */
function nodesAt(root: Node | null, path: FieldPath): { key?: Node; value?: Node | null } {
  let value: Node | null | undefined = root;
  let key: Node | undefined;
  for (const segment of path) {
    if (isMap(value)) {
      const pair = value.items.find((item) => isScalar(item.key) && String(item.key.value) === String(segment));
      if (!pair) return { key, value };
      key = pair.key as Node;
      value = pair.value as Node | null;
    } else if (isSeq(value) && typeof segment === 'number') {
      key = undefined;
      value = value.items[segment] as Node | null;
    } else {
      return { key, value };
    }
  }
  return { key, value };
}

/**
 * Keys given twice in one map, at the second key. (The YAML library can refuse them itself, but
 * then points at the map, not at the key.)
 */
function duplicateKeys(root: Node | null, lines: LineCounter): PositionedProblem[] {
  const problems: PositionedProblem[] = [];
  const pathOf = (ancestors: readonly unknown[]): (string | number)[] =>
    ancestors.flatMap((ancestor, index): (string | number)[] => {
      const child = ancestors[index + 1];
      if (isMap(ancestor) && child && isScalar((child as { key?: unknown }).key)) return [String(((child as { key: { value: unknown } }).key).value)];
      if (isSeq(ancestor) && child !== undefined) return [ancestor.items.indexOf(child as never)];
      return [];
    });
  visit(root, {
    Map(_, map, ancestors) {
      const seen = new Set<string>();
      for (const pair of map.items) {
        if (!isScalar(pair.key)) continue;
        const key = String(pair.key.value);
        if (seen.has(key)) {
          const { line, col } = lines.linePos(pair.key.range?.[0] ?? 0);
          problems.push({ line, column: col, field: formatPath(pathOf([...ancestors, map, pair])), message: 'appears twice in this map: keep one' });
        }
        seen.add(key);
      }
    },
  });
  return problems;
}

function position(root: Node | null, lines: LineCounter, problem: PolicyProblem): PositionedProblem {
  const { key, value } = nodesAt(root, problem.path);
  const node = problem.onKey ? (key ?? value) : (value ?? key);
  const offset = node?.range?.[0] ?? 0;
  const { line, col } = lines.linePos(offset);
  return { line, column: col, field: formatPath(problem.path), message: problem.message };
}

/** Checks a policy file's text; `now` judges which exceptions have expired. */
export function checkPolicyText(text: string, file: string, now: number = Date.now()): PolicyFileCheck {
  const lines = new LineCounter();
  const parsed = parseDocument(text, { version: '1.2', uniqueKeys: false, lineCounter: lines, prettyErrors: false });
  const syntax = parsed.errors.map((error) => {
    const at = error.linePos?.[0];
    return { line: at?.line ?? 1, column: at?.col ?? 1, field: '', message: (error.message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '') };
  });
  const problems = syntax.length > 0 ? syntax : duplicateKeys(parsed.contents, lines);
  if (problems.length > 0) return { file, document: undefined, policy: undefined, version: undefined, fleet: undefined, problems, warnings: [] };
  const document: unknown = parsed.toJS();
  const check = checkPolicyDocument(document, now);
  const place = (problem: PolicyProblem) => position(parsed.contents, lines, problem);
  const version = check.policy ? policyVersion(document) : undefined;
  return {
    file,
    document,
    policy: check.policy,
    version,
    fleet: check.policy && version !== undefined ? createFleetPolicy(check.policy, version, loadConfig({})) : undefined,
    problems: check.problems.map(place),
    warnings: check.warnings.map(place),
  };
}

/** Checks a policy file; an unreadable file is one problem at 1:1. */
export function checkPolicyFile(file: string, now: number = Date.now()): PolicyFileCheck {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    const message = `cannot be read: ${(error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (error as Error).message}`;
    return { file, document: undefined, policy: undefined, version: undefined, fleet: undefined, problems: [{ line: 1, column: 1, field: '', message }], warnings: [] };
  }
  return checkPolicyText(text, file, now);
}

/**
 * The reader the tools give configuredHandler for POLICY_FILE: YAML or JSON, every problem with
 * its position in one ConfigError.
 */
export function readPolicyFileWithPositions(file: string): unknown {
  const check = checkPolicyFile(file);
  if (check.problems.length > 0) {
    throw new ConfigError('POLICY_FILE', `"${file}" is not a valid policy:\n${check.problems.map((problem) => `  ${problemLine(file, problem)}`).join('\n')}`);
  }
  return check.document;
}
