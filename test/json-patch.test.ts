import fc from 'fast-check';
import { applyPatch } from 'fast-json-patch';
import { describe, expect, it } from 'vitest';
import {
  type Operation,
  PatchError,
  addIfAbsent,
  appendUnique,
  applyChecked,
  checkPatch,
  createOrAppend,
  encodePatch,
  escapePointerSegment,
  fillIfEmpty,
  pointer,
  setValue,
} from '../lib/policies/json-patch';
import { exactJson } from './support/exact-json';

const byName = (item: unknown): unknown => (item as { name?: unknown } | null)?.name;

describe('JSON Pointer', () => {
  it.each([
    ['plain', 'plain'],
    ['a/b', 'a~1b'],
    ['a~b', 'a~0b'],
    ['~/', '~0~1'],
    ['/~', '~1~0'],
    ['~1', '~01'],
    ['', ''],
  ])('escapes %j as %j', (segment, escaped) => {
    expect(escapePointerSegment(segment)).toBe(escaped);
  });

  it('joins segments, numbers included', () => {
    expect(pointer(['spec', 'containers', 0, 'imagePullPolicy'])).toBe('/spec/containers/0/imagePullPolicy');
    expect(pointer(['metadata', 'annotations', 'example.com/a~b'])).toBe('/metadata/annotations/example.com~1a~0b');
    expect(pointer([])).toBe('');
  });

  it('builds pointers that resolve to the intended member, here and in fast-json-patch', () => {
    const key = 'example.com/~weird~1/key';
    const document = { metadata: { annotations: { [key]: 'old', 'example.com': { '~weird~1': { key: 'decoy' } } } } };
    const operations: Operation[] = [{ op: 'add', path: pointer(['metadata', 'annotations', key]), value: 'new' }];
    const expected = { metadata: { annotations: { [key]: 'new', 'example.com': { '~weird~1': { key: 'decoy' } } } } };
    expect(applyChecked(document, operations)).toEqual(expected);
    expect(applyPatch(structuredClone(document), structuredClone(operations), true, false).newDocument).toEqual(expected);
  });
});

describe('addIfAbsent', () => {
  it('adds only where the current value is undefined', () => {
    expect(addIfAbsent(['a', 'b'], undefined, 1)).toEqual([{ op: 'add', path: '/a/b', value: 1 }]);
    expect(addIfAbsent(['a'], null, 1)).toEqual([]);
    expect(addIfAbsent(['a'], '', 1)).toEqual([]);
    expect(addIfAbsent(['a'], 0, 1)).toEqual([]);
    expect(addIfAbsent(['a'], false, 1)).toEqual([]);
  });
});

describe('fillIfEmpty', () => {
  it.each([undefined, null, ''])('fills %j', (current) => {
    expect(fillIfEmpty(['spec', 'containers', 0, 'imagePullPolicy'], current, 'Always')).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
    ]);
  });

  it.each(['IfNotPresent', 'Always', ' ', 0, false, {}, []])('keeps %j', (current) => {
    expect(fillIfEmpty(['x'], current, 'Always')).toEqual([]);
  });

  it('gives an add that replaces a null or empty member when applied', () => {
    for (const current of [null, '']) {
      const document = { spec: { containers: [{ name: 'a', imagePullPolicy: current }] } };
      const patch = fillIfEmpty(['spec', 'containers', 0, 'imagePullPolicy'], current, 'Always');
      expect(applyChecked(document, patch)).toEqual({ spec: { containers: [{ name: 'a', imagePullPolicy: 'Always' }] } });
    }
  });
});

describe('setValue', () => {
  it('sets a different or missing value and leaves an equal one', () => {
    expect(setValue(['p'], 'IfNotPresent', 'Always')).toEqual([{ op: 'add', path: '/p', value: 'Always' }]);
    expect(setValue(['p'], undefined, 'Always')).toEqual([{ op: 'add', path: '/p', value: 'Always' }]);
    expect(setValue(['p'], '', 'Always')).toEqual([{ op: 'add', path: '/p', value: 'Always' }]);
    expect(setValue(['p'], 'Always', 'Always')).toEqual([]);
  });

  it('overrides an existing value when applied', () => {
    const patch = setValue(['p'], 'Never', 'Always');
    expect(applyChecked({ p: 'Never' }, patch)).toEqual({ p: 'Always' });
  });
});

describe('createOrAppend', () => {
  const items = [{ name: 'a' }, { name: 'b' }];

  it('creates the array when it is missing or null', () => {
    expect(createOrAppend(['spec', 'imagePullSecrets'], undefined, items)).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: items },
    ]);
    expect(createOrAppend(['spec', 'imagePullSecrets'], null, items)).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets', value: items },
    ]);
  });

  it('copies the items rather than sharing the caller array', () => {
    const [operation] = createOrAppend(['x'], undefined, items) as Array<Operation & { value: unknown }>;
    expect(operation?.value).toEqual(items);
    expect(operation?.value).not.toBe(items);
  });

  it('appends one operation per item to an existing array', () => {
    expect(createOrAppend(['spec', 'imagePullSecrets'], [{ name: 'x' }], items)).toEqual([
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'a' } },
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'b' } },
    ]);
    expect(createOrAppend(['list'], [], ['a'])).toEqual([{ op: 'add', path: '/list/-', value: 'a' }]);
  });

  it.each([{}, 'text', 0, true])('returns nothing for a current value %j that is not an array', (current) => {
    expect(createOrAppend(['x'], current, items)).toEqual([]);
  });

  it('returns nothing for no items', () => {
    expect(createOrAppend(['x'], undefined, [])).toEqual([]);
    expect(createOrAppend(['x'], [1], [])).toEqual([]);
  });

  it('gives operations that apply in order', () => {
    const document = { spec: { imagePullSecrets: [{ name: 'x' }] } };
    const patch = createOrAppend(['spec', 'imagePullSecrets'], document.spec.imagePullSecrets, items);
    expect(applyChecked(document, patch)).toEqual({ spec: { imagePullSecrets: [{ name: 'x' }, ...items] } });
  });
});

describe('appendUnique', () => {
  it('skips items already present', () => {
    const current = [{ name: 'a' }];
    expect(appendUnique(['s'], current, [{ name: 'a' }, { name: 'b' }], byName)).toEqual([
      { op: 'add', path: '/s/-', value: { name: 'b' } },
    ]);
  });

  it('skips duplicates among the items', () => {
    expect(appendUnique(['s'], undefined, [{ name: 'a' }, { name: 'b' }, { name: 'a' }], byName)).toEqual([
      { op: 'add', path: '/s', value: [{ name: 'a' }, { name: 'b' }] },
    ]);
    expect(appendUnique(['s'], [], [{ name: 'c' }, { name: 'c' }], byName)).toEqual([{ op: 'add', path: '/s/-', value: { name: 'c' } }]);
  });

  it('returns nothing when every item is present', () => {
    expect(appendUnique(['s'], [{ name: 'b' }, { name: 'a' }], [{ name: 'a' }, { name: 'b' }], byName)).toEqual([]);
  });

  it('tolerates junk entries in the current array', () => {
    expect(appendUnique(['s'], [null, 'x', { other: 1 }], [{ name: 'a' }], byName)).toEqual([
      { op: 'add', path: '/s/-', value: { name: 'a' } },
    ]);
  });

  it('returns nothing when the current value is not an array', () => {
    expect(appendUnique(['s'], { name: 'a' }, [{ name: 'b' }], byName)).toEqual([]);
  });

  it('is idempotent: a second pass over the patched value adds nothing', () => {
    const document = { s: [{ name: 'a' }] };
    const items = [{ name: 'a' }, { name: 'b' }, { name: 'c' }];
    const once = applyChecked(document, appendUnique(['s'], document.s, items, byName)) as { s: unknown[] };
    expect(once.s).toEqual([{ name: 'a' }, { name: 'b' }, { name: 'c' }]);
    expect(appendUnique(['s'], once.s, items, byName)).toEqual([]);
  });
});

describe('encodePatch', () => {
  it('round-trips through base64 JSON, unicode included', () => {
    const operations: Operation[] = [
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/metadata/annotations/a~1b', value: 'é ✓ 日本' },
    ];
    const encoded = encodePatch(operations);
    expect(encoded).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expect(JSON.parse(Buffer.from(encoded, 'base64').toString('utf8'))).toEqual(operations);
  });

  it('is the base64 of the UTF-8 JSON for any operations, ASCII or not', () => {
    const operation = fc.record({ op: fc.constant('add' as const), path: fc.string({ unit: 'binary' }), value: fc.jsonValue() });
    fc.assert(
      fc.property(fc.array(operation, { maxLength: 5 }), (operations) => {
        expect(encodePatch(operations)).toBe(Buffer.from(JSON.stringify(operations), 'utf8').toString('base64'));
      }),
    );
  });

  it('encodes an empty patch as an empty JSON array', () => {
    expect(Buffer.from(encodePatch([]), 'base64').toString('utf8')).toBe('[]');
  });
});

describe('applyChecked', () => {
  const pod = () => ({ spec: { containers: [{ name: 'a', image: 'x' }] } });

  it('returns the patched copy', () => {
    const document = pod();
    const result = applyChecked(document, [{ op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' }]);
    expect(result).toEqual({ spec: { containers: [{ name: 'a', image: 'x', imagePullPolicy: 'Always' }] } });
  });

  it('applies the three shapes the builders emit, and an insert at an index', () => {
    const document = { spec: { containers: [{ name: 'a' }, { name: 'b' }], tolerations: [] } };
    const result = applyChecked(document, [
      { op: 'add', path: '/spec/containers/1/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'r' }] },
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 's' } },
      { op: 'add', path: '/spec/containers/0', value: { name: 'first' } },
      { op: 'add', path: '/spec/tolerations/0', value: 'only' },
    ]);
    expect(result).toEqual({
      spec: {
        containers: [{ name: 'first' }, { name: 'a' }, { name: 'b', imagePullPolicy: 'Always' }],
        tolerations: ['only'],
        imagePullSecrets: [{ name: 'r' }, { name: 's' }],
      },
    });
  });

  it('replaces a member that exists, keeping its place among the members', () => {
    const result = applyChecked({ a: 1, p: 'Never', z: 2 }, [{ op: 'add', path: '/p', value: 'Always' }]);
    expect(JSON.stringify(result)).toBe('{"a":1,"p":"Always","z":2}');
  });

  it('treats "-" and digits as plain member names in an object', () => {
    expect(applyChecked({ m: {} }, [{ op: 'add', path: '/m/-', value: 1 }, { op: 'add', path: '/m/01', value: 2 }])).toEqual({ m: { '-': 1, '01': 2 } });
  });

  it.each<[string, unknown[]]>([
    ['a missing parent', [{ op: 'add', path: '/spec/initContainers/0/imagePullPolicy', value: 'Always' }]],
    ['a parent that is a string', [{ op: 'add', path: '/spec/containers/0/image/tag', value: '1' }]],
    ['an index past the end', [{ op: 'add', path: '/spec/containers/5', value: {} }]],
    ['an index with a leading zero (RFC 6901)', [{ op: 'add', path: '/spec/containers/00', value: {} }]],
    ['an empty index', [{ op: 'add', path: '/spec/containers/', value: {} }]],
    ['a name as an array index', [{ op: 'add', path: '/spec/containers/first', value: {} }]],
    ['"-" before the last token', [{ op: 'add', path: '/spec/containers/-/name', value: 'b' }]],
    ['an inherited member as a parent', [{ op: 'add', path: '/spec/constructor/name', value: 'x' }]],
    ['a "__proto__" member', [{ op: 'add', path: '/spec/__proto__', value: { polluted: true } }]],
    ['the whole document', [{ op: 'add', path: '', value: {} }]],
    ['a path without a leading slash', [{ op: 'add', path: 'spec/x', value: 1 }]],
    ['an undefined value', [{ op: 'add', path: '/spec/x', value: undefined }]],
    ['a value holding undefined', [{ op: 'add', path: '/spec/x', value: [{ name: undefined }] }]],
    ['a replace (only add is supported)', [{ op: 'replace', path: '/spec/containers/0/image', value: 'y' }]],
    ['a remove', [{ op: 'remove', path: '/spec/containers/0/image' }]],
    ['an unknown op', [{ op: 'merge', path: '/spec', value: {} }]],
    ['an operation that is not an object', ['add']],
  ])('throws a PatchError on %s', (_, operations) => {
    expect(() => applyChecked(pod(), operations as Operation[])).toThrow(PatchError);
    expect(() => checkPatch(pod(), operations as Operation[])).toThrow(PatchError);
  });

  it('names the operation that fails and why', () => {
    const operations: Operation[] = [
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/volumes/0/image/pullPolicy', value: 'Always' },
    ];
    expect(() => checkPatch(pod(), operations)).toThrow('patch operation 1 does not apply: /spec/volumes is not an object or an array');
    expect(() => checkPatch(pod(), [{ op: 'add', path: '/spec/containers/2', value: {} }])).toThrow(
      'patch operation 0 does not apply: "2" is not "-" or an index from 0 to 1 of the array at /spec/containers',
    );
  });

  it('never mutates the document, whether the patch applies or not', () => {
    const document = pod();
    const snapshot = structuredClone(document);
    applyChecked(document, [
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'r' }] },
    ]);
    expect(document).toEqual(snapshot);
    expect(() =>
      applyChecked(document, [
        { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
        { op: 'add', path: '/spec/missing/x', value: 1 },
      ]),
    ).toThrow();
    expect(document).toEqual(snapshot);
  });

  it('never mutates the operations, even when a later one changes a value added by an earlier one', () => {
    const operations: Operation[] = [
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'a' }] },
      { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'b' } },
    ];
    const snapshot = structuredClone(operations);
    const result = applyChecked(pod(), operations);
    expect(result.spec).toMatchObject({ imagePullSecrets: [{ name: 'a' }, { name: 'b' }] });
    expect(operations).toEqual(snapshot);
    // The encoded patch, applied by the API server, therefore gives the same result.
    const decoded = JSON.parse(Buffer.from(encodePatch(operations), 'base64').toString('utf8'));
    expect(applyPatch(pod(), decoded, true, false).newDocument).toEqual(result);
  });
});

describe('checkPatch', () => {
  /** A document with members of every kind, so that a change to any of them shows in its JSON. */
  const document = () => ({
    metadata: { name: 'p', labels: { app: 'x' } },
    spec: { containers: [{ name: 'a', imagePullPolicy: '' }, { name: 'b' }], imagePullSecrets: [{ name: 'x' }] },
  });
  const everyShape: Operation[] = [
    { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
    { op: 'add', path: '/spec/containers/1/imagePullPolicy', value: 'Always' },
    { op: 'add', path: '/spec/imagePullSecrets/-', value: { name: 'y' } },
    { op: 'add', path: '/spec/imagePullSecrets/0', value: { name: 'w' } },
    { op: 'add', path: '/spec/volumes', value: [{ name: 'v' }] },
    { op: 'add', path: '/spec/volumes/0/image', value: { reference: 'r' } },
    { op: 'add', path: '/spec/volumes/0/image/pullPolicy', value: 'Always' },
    { op: 'add', path: '/metadata/labels', value: { replaced: 'yes' } },
  ];

  it('returns for a patch that applies and leaves the document and the operations exactly as they were', () => {
    const target = document();
    const before = exactJson(target);
    const operations = structuredClone(everyShape);
    expect(checkPatch(target, operations)).toBeUndefined();
    // Member order and undefined members included: an undone member leaves no trace.
    expect(exactJson(target)).toBe(before);
    expect(exactJson(operations)).toBe(exactJson(everyShape));
  });

  it('undoes the operations that applied when a later one fails', () => {
    const target = document();
    const before = exactJson(target);
    const operations: Operation[] = [...structuredClone(everyShape), { op: 'add', path: '/spec/containers/9', value: {} }];
    expect(() => checkPatch(target, operations)).toThrow(new PatchError(8, '"9" is not "-" or an index from 0 to 2 of the array at /spec/containers'));
    expect(exactJson(target)).toBe(before);
    expect(exactJson(operations.slice(0, -1))).toBe(exactJson(everyShape));
  });

  it('checks what applyChecked applies: the result fast-json-patch gives for the same operations', () => {
    expect(applyChecked(document(), everyShape)).toEqual(applyPatch(document(), structuredClone(everyShape), true, false).newDocument);
  });
});
