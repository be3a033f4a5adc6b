/**
 * fast-json-patch as the oracle of our own `add` verifier (lib/policies/json-patch.ts): every
 * generated patch is applied with both, and both must agree on whether it applies and on the
 * result; `checkPatch` must agree too and leave the document and the operations as they were.
 *
 * Where RFC 6901 is stricter than fast-json-patch the generator stays out of the way, and
 * test/json-patch.test.ts pins our answer instead: fast-json-patch reads an array index with a
 * leading zero ("01") or an empty one ("") as a number, and refuses `prototype` after
 * `constructor` as a precaution of its own.
 */
import fc from 'fast-check';
import { applyPatch } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import {
  type Operation,
  PatchError,
  appendUnique,
  applyChecked,
  checkPatch,
  fillIfEmpty,
  pointer,
  setValue,
} from '../lib/policies/json-patch';
import { exactJson } from './support/exact-json';

type Json = Record<string, unknown>;

const RUNS = { numRuns: 1500 };

/** Member names: plain, needing escapes, "-" (an index only in an array), and inherited names. */
const KEYS = ['a', 'b', 'spec', 'x/y', 'm~n', '~1', '-', 'constructor', 'toString', 'length'];
/** Tokens of generated paths: the keys, array indices, and `__proto__` (refused by both). */
const TOKENS = [...KEYS, '0', '1', '2', '3', '__proto__'];

const { json, object } = fc.letrec((tie) => ({
  json: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    fc.oneof(fc.string({ maxLength: 3 }), fc.integer(), fc.boolean(), fc.constant(null)),
    tie('object'),
    tie('array'),
  ),
  object: fc.dictionary(fc.constantFrom(...KEYS), tie('json'), { maxKeys: 4, noNullPrototype: true }),
  array: fc.array(tie('json'), { maxLength: 3 }),
}));

/** Values, now and then missing or holding undefined (both must refuse those). */
const valueArb = fc.oneof(
  { weight: 12, arbitrary: json },
  { weight: 1, arbitrary: fc.constant(undefined) },
  { weight: 1, arbitrary: fc.constant([{ name: undefined }]) },
);

/** The reference tokens of every object and array in `value`, the root included. */
function containerPaths(value: unknown, path: string[] = []): string[][] {
  if (typeof value !== 'object' || value === null) return [];
  const children = Array.isArray(value) ? value.map((item, index) => [String(index), item] as const) : Object.entries(value);
  return [path, ...children.flatMap(([token, child]) => containerPaths(child, [...path, token]))];
}

/** A document and 1-3 `add` operations, most aimed at one of its objects or arrays, some anywhere. */
const documentAndPatch = (object as fc.Arbitrary<Json>).chain((document) => {
  const parents = containerPaths(document);
  const tokens = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(fc.constantFrom(...parents), fc.constantFrom(...TOKENS)).map(([parent, last]) => [...parent, last]) },
    { weight: 1, arbitrary: fc.array(fc.constantFrom(...TOKENS), { minLength: 1, maxLength: 4 }) },
  );
  const operation = fc.record({ op: fc.constant('add' as const), path: tokens.map(pointer), value: valueArb }, { noNullPrototype: true });
  return fc.tuple(fc.constant(document), fc.array(operation, { minLength: 1, maxLength: 3 }));
});

/** fast-json-patch's answer: the patched copy as JSON text, or "fails". */
function oracle(document: Json, operations: Operation[]): string {
  try {
    return JSON.stringify(applyPatch(document, structuredClone(operations), true, false).newDocument);
  } catch {
    return 'fails';
  }
}

function ours(document: Json, operations: Operation[]): string {
  try {
    return JSON.stringify(applyChecked(document, operations));
  } catch (error) {
    if (!(error instanceof PatchError)) throw error;
    return 'fails';
  }
}

/** checkPatch's answer, after checking that it left both inputs exactly as they were. */
function checked(document: Json, operations: Operation[]): 'applies' | 'fails' {
  const before = exactJson({ document, operations });
  let answer: 'applies' | 'fails' = 'applies';
  try {
    checkPatch(document, operations);
  } catch (error) {
    if (!(error instanceof PatchError)) throw error;
    answer = 'fails';
  }
  expect(exactJson({ document, operations })).toBe(before);
  return answer;
}

describe('our add verifier against fast-json-patch', () => {
  it('agrees on every generated patch: whether it applies, and the result', () => {
    const outcomes = { applies: 0, fails: 0 };
    fc.assert(
      fc.property(documentAndPatch, ([document, operations]) => {
        const expected = oracle(document, operations);
        expect(ours(document, operations)).toBe(expected);
        const answer = checked(document, operations);
        expect(answer).toBe(expected === 'fails' ? 'fails' : 'applies');
        outcomes[answer] += 1;
      }),
      RUNS,
    );
    // The generator must exercise both sides, or the agreement says little.
    expect(outcomes.applies).toBeGreaterThan(RUNS.numRuns / 5);
    expect(outcomes.fails).toBeGreaterThan(RUNS.numRuns / 5);
  });

  it('agrees on the patches the builders make for generated pod specs', () => {
    const policy = fc.constantFrom<unknown>(undefined, null, '', 'Never', 'Always', 0);
    const container = fc.record({ name: fc.constantFrom('a', 'b'), imagePullPolicy: policy }, { requiredKeys: ['name'], noNullPrototype: true });
    const secrets = fc.oneof(
      fc.constantFrom<unknown>(undefined, null, 'junk', {}),
      fc.array(fc.oneof(fc.record({ name: fc.constantFrom('r', 's') }, { noNullPrototype: true }), fc.constant(null)), { maxLength: 3 }),
    );
    const podSpec = fc.record({ containers: fc.array(container, { maxLength: 4 }), imagePullSecrets: secrets }, { requiredKeys: ['containers'], noNullPrototype: true });
    fc.assert(
      fc.property(podSpec, fc.boolean(), fc.subarray(['r', 's', 't']), (spec, enforce, names) => {
        const document: Json = { apiVersion: 'v1', kind: 'Pod', spec };
        const operations = [
          ...spec.containers.flatMap((item, index) => {
            const path = ['spec', 'containers', index, 'imagePullPolicy'];
            return enforce ? setValue(path, item.imagePullPolicy, 'Always') : fillIfEmpty(path, item.imagePullPolicy, 'IfNotPresent');
          }),
          ...appendUnique(['spec', 'imagePullSecrets'], spec.imagePullSecrets, names.map((name) => ({ name })), (item) => (item as Json | null)?.name),
        ];
        const expected = oracle(document, operations);
        expect(expected, 'the builders only make patches that apply').not.toBe('fails');
        expect(ours(document, operations)).toBe(expected);
        expect(checked(document, operations)).toBe('applies');
      }),
      RUNS,
    );
  });
});
