/**
 * policy.schema.json, the fleet policy's JSON Schema for editors, is kept equal to what the
 * validator (checkPolicyDocument) accepts (DESIGN "Fleet policy"): a table of documents covering
 * every layer, every field and every error of the design's list goes through a real JSON Schema
 * validator (ajv) and checkPolicyDocument, and generated documents and values (fast-check) too.
 * What JSON Schema cannot express is listed as validator-only: the schema accepts it, the
 * validator refuses it. The schema's fields, enums and name patterns are compared with the
 * validator's constants, so a field or value added to one side only fails here; the shipped
 * policies are checked against the schema.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import Ajv from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { DEFAULTS, policyDocumentFromEnv } from '../lib/policies/fleet/config';
import {
  CLUSTER_NAME,
  EXCEPTION_KEYS,
  EXCEPTION_NAME,
  NAMESPACE_PATTERN,
  POLICY_VERSION,
  TOP_LEVEL_KEYS,
  checkPolicyDocument,
} from '../lib/policies/fleet/policy-document';
import {
  DNS_LABEL,
  DNS_SUBDOMAIN,
  FIELD_NAMES,
  type FieldName,
  NAMESPACE_FIELDS,
  PULL_POLICIES,
  PULL_POLICY_MODES,
  VALIDATION_ACTIONS,
} from '../lib/policies/fleet/policy-fields';
import { ORIGIN_FIELDS, type OriginField, SOURCE_ADDRESS, VPC_ENDPOINT_ID } from '../lib/policies/fleet/cluster-origins';
import { ROOT } from './support/serverless';

const SCHEMA_FILE = join(ROOT, 'policy.schema.json');
const schema = JSON.parse(readFileSync(SCHEMA_FILE, 'utf8'));
/** Any day: expiry only gives warnings, never problems. */
const NOW = Date.UTC(2026, 11, 4, 12);

// strict: an unknown keyword (a typo such as `additionalProperty`) is an error, not ignored.
// patternErrorMessage is the editors' message for a pattern (VS Code, yaml-language-server).
const ajv = new Ajv({ strict: true, allowUnionTypes: true });
ajv.addVocabulary(['patternErrorMessage']);
ajv.addSchema(schema, 'policy');
const validateSchema = ajv.getSchema('policy')!;
const definition = (name: string) => schema.definitions[name];

const schemaAccepts = (document: unknown): boolean => validateSchema(document) === true;
const problemsOf = (document: unknown) => checkPolicyDocument(document, NOW).problems;
const validatorAccepts = (document: unknown): boolean => problemsOf(document).length === 0;

/** What only the validator refuses: the messages of the rules JSON Schema cannot express. */
const VALIDATOR_ONLY = /twice: give each source one target|which overlaps the source|is already the name of exceptions|has bits set after its/;

/** Both agree on `document`, and on `valid`. */
function expectBoth(document: unknown, valid: boolean): void {
  const label = JSON.stringify(document);
  expect(schemaAccepts(document), `schema on ${label}: ${ajv.errorsText(validateSchema.errors)}`).toBe(valid);
  expect(validatorAccepts(document), `validator on ${label}: ${JSON.stringify(problemsOf(document))}`).toBe(valid);
}

const EXCEPTION = { name: 'busybox-debug', reason: 'OPS-123: debug image', expires: '2027-01-31', images: ['docker.io/library/busybox'] };
const withException = (changes: Record<string, unknown>, without: string[] = []) => {
  const entry: Record<string, unknown> = { ...EXCEPTION, ...changes };
  for (const key of without) delete entry[key];
  return { version: 1, exceptions: [entry] };
};

/** Where a field can be set: each layer of the design, as a document with `fields` there. */
const LAYERS: Record<string, { fields: readonly FieldName[]; document: (fields: Record<string, unknown>) => unknown }> = {
  defaults: { fields: FIELD_NAMES, document: (fields) => ({ version: 1, defaults: fields }) },
  'clusters.<c>': { fields: FIELD_NAMES, document: (fields) => ({ version: 1, clusters: { 'prod-eu': fields } }) },
  'namespaces.<n>': { fields: NAMESPACE_FIELDS, document: (fields) => ({ version: 1, namespaces: { 'team-a-*': fields } }) },
  'clusters.<c>.namespaces.<n>': { fields: NAMESPACE_FIELDS, document: (fields) => ({ version: 1, clusters: { 'prod-eu': { namespaces: { sandbox: fields } } } }) },
};

/** Values each field accepts and refuses (every one: a wrong type, a bad entry, an empty list where one is needed). */
const FIELD_VALUES: { [F in FieldName]: { good: unknown[]; bad: unknown[] } } = {
  allowedRegistries: {
    good: [
      ['registry.example.com'],
      ['registry.example.com/team-a', 'localhost:5000', 'LocalHost/x', '[::1]:5000/a/b', ' Registry.Example.com/team/ ', 'index.docker.io'],
      ['my-registry.local:443/a__b/c.d-e/f--g', '10.0.0.1:5000', 'registry.example.com//'],
    ],
    bad: [
      'registry.example.com',
      [],
      ['nginx'],
      ['localhost5000'],
      ['registry.example.com/Team'],
      ['registry.example.com/app:1.0'],
      ['registry.example.com/app@sha256:abc'],
      ['-registry.example.com'],
      ['registry.example.com:port'],
      ['registry.example.com /a'],
      ['registry.example.com//a'],
      ['https://registry.example.com'],
      ['registry_x.example.com'],
      [''],
      [5],
      [null],
      {},
      null,
    ],
  },
  imagePullSecrets: {
    good: [[], ['registry-credentials'], ['a.b-c', { name: 'ecr', registries: ['111122223333.dkr.ecr.eu-west-1.amazonaws.com', 'localhost/x'] }]],
    bad: [
      'registry-credentials',
      ['Registry'],
      ['a_b'],
      ['a'.repeat(254)],
      [{ name: 'ecr' }],
      [{ registries: ['x.io'] }],
      [{ name: 'ecr', registries: [] }],
      [{ name: 'ecr', registries: ['ecr'] }],
      [{ name: 'ecr', registries: 'x.io' }],
      [{ name: 'ecr', registries: ['x.io'], namespaces: ['a'] }],
      [{ name: 5, registries: ['x.io'] }],
      [5],
      [null],
      {},
    ],
  },
  imagePullSecretNamespaces: {
    good: [[], ['default'], ['*'], ['default', 'team-a']],
    bad: ['*', ['*', 'default'], ['*', '*'], ['Default'], ['team-*'], [''], [5], {}, null],
  },
  defaultImagePullPolicy: { good: [...PULL_POLICIES, null], bad: ['always', '', true, ['Always']] },
  imagePullPolicyMode: { good: [...PULL_POLICY_MODES], bad: ['Enforce', '', null, 1] },
  validationAction: { good: [...VALIDATION_ACTIONS], bad: ['Deny', 'block', '', null, false] },
  exemptNamespaces: {
    good: [[], ['kube-system', 'monitoring'], ['a'.repeat(63), '0']],
    bad: ['kube-system', ['kube_system'], ['a'.repeat(64)], ['-a'], ['a-'], ['ns*'], ['*'], [null], null],
  },
  imageMirrors: {
    good: [
      {},
      { 'docker.io': '111122223333.dkr.ecr.eu-west-1.amazonaws.com/docker-hub' },
      { 'docker.io/library': 'mirror.example.com/hub', 'ghcr.io': 'mirror.example.com/github' },
      { ' quay.io ': ' mirror.example.com/quay/ ' },
    ],
    bad: [
      'docker.io=mirror.example.com',
      ['docker.io=mirror.example.com'],
      { 'docker.io': 'nginx' },
      { nginx: 'mirror.example.com' },
      { 'docker.io': 'mirror.example.com/Hub' },
      { 'docker.io=x.example.com': 'y.example.com' },
      { 'docker.io': 'x.example.com=y.example.com' },
      { 'docker.io': 5 },
      { 'docker.io': null },
      { 'docker.io': ['mirror.example.com'] },
      null,
    ],
  },
  disallowedTags: {
    good: [[], ['latest'], ['v1.2.3', '_x', 'A-b', 'a'.repeat(128)]],
    bad: ['latest', ['-x'], ['.x'], ['a'.repeat(129)], ['la test'], ['x:y'], [''], [1], null],
  },
  requireDigest: { good: [true, false], bad: ['true', 'yes', 1, null] },
};

/** Values of the cluster-only fields (where a cluster calls from), accepted and refused. */
const ORIGIN_VALUES: { [F in OriginField]: { good: unknown[]; bad: unknown[] } } = {
  sourceIps: {
    good: [
      ['203.0.113.7'],
      ['203.0.113.0/28', '198.51.100.0/24', '10.0.0.0/8', '0.0.0.0/1', '255.255.255.255/32'],
      ['2001:db8::/56', '2001:DB8:0:0:0:0:0:1', '::1', '::', '1::', '2001:db8::1/128', 'fe80::/10', '::/1'],
      ['203.0.113.7', '2001:db8:1:2:3:4:5:6/127'],
    ],
    bad: [
      '203.0.113.7',
      [],
      ['203.0.113.300'],
      ['203.0.113.07'],
      ['203.0.113'],
      ['203.0.113.0/33'],
      ['203.0.113.0/0'],
      ['0.0.0.0/0'],
      ['::/0'],
      ['203.0.113.0/08'],
      ['203.0.113.0/'],
      ['2001:db8::/129'],
      ['2001:db8:::1'],
      ['2001:db8::1::2'],
      ['1:2:3:4:5:6:7:8:9'],
      ['12345::'],
      ['::ffff:203.0.113.7'],
      ['fe80::1%eth0'],
      [' 203.0.113.7'],
      ['example.com'],
      [''],
      [5],
      [null],
      null,
    ],
  },
  vpcEndpointIds: {
    good: [['vpce-0123abcd'], ['vpce-0123456789abcdef0', 'vpce-89abcdef']],
    bad: ['vpce-0123abcd', [], ['vpce-0123abc'], ['vpce-0123456789abcdef'], ['vpce-0123ABCD'], ['vpc-0123abcd'], ['vpce-0123abcd '], [5], null],
  },
};

describe('the schema and the validator accept the same documents', () => {
  it('covers every field the validator has', () => {
    expect(Object.keys(FIELD_VALUES).sort()).toEqual([...FIELD_NAMES].sort());
    expect(Object.keys(ORIGIN_VALUES).sort()).toEqual([...ORIGIN_FIELDS].sort());
  });

  describe('where a cluster calls from: cluster-only fields', () => {
    for (const field of ORIGIN_FIELDS) {
      it(`${field}: accepts ${ORIGIN_VALUES[field].good.length} in a cluster, refuses ${ORIGIN_VALUES[field].bad.length}, and is refused in every other layer`, () => {
        const cluster = LAYERS['clusters.<c>']!.document;
        for (const value of ORIGIN_VALUES[field].good) expectBoth(cluster({ [field]: value }), true);
        for (const value of ORIGIN_VALUES[field].bad) expectBoth(cluster({ [field]: value }), false);
        for (const [layer, { document }] of Object.entries(LAYERS)) {
          if (layer !== 'clusters.<c>') expectBoth(document({ [field]: ORIGIN_VALUES[field].good[0] }), false);
        }
      });
    }
  });

  for (const [layer, { fields, document }] of Object.entries(LAYERS)) {
    describe(layer, () => {
      for (const field of fields) {
        it(`${field}: accepts ${FIELD_VALUES[field].good.length}, refuses ${FIELD_VALUES[field].bad.length}`, () => {
          for (const value of FIELD_VALUES[field].good) expectBoth(document({ [field]: value }), true);
          for (const value of FIELD_VALUES[field].bad) expectBoth(document({ [field]: value }), false);
        });
      }
      const others = FIELD_NAMES.filter((field) => !fields.includes(field));
      it(`refuses fields this layer may not set${others.length > 0 ? ` (${others.join(', ')})` : ''} and unknown ones`, () => {
        for (const field of others) expectBoth(document({ [field]: FIELD_VALUES[field].good[0] }), false);
        expectBoth(document({ validationActions: 'warn' }), false);
        expectBoth(document({ namespaces: {} }), layer === 'clusters.<c>');
        expectBoth(document({}), true);
        expectBoth(document(Object.fromEntries(fields.map((field) => [field, FIELD_VALUES[field].good.at(-1)]))), true);
      });
    });
  }

  it.each<[string, unknown, boolean]>([
    ['version alone', { version: 1 }, true],
    ['no version', {}, false],
    ['no version, other fields', { defaults: {} }, false],
    ['version 2', { version: 2 }, false],
    ['version "1"', { version: '1' }, false],
    ['version null', { version: null }, false],
    ['a list', [], false],
    ['a string', 'version: 1', false],
    ['null', null, false],
    ['an unknown top-level field', { version: 1, policies: {} }, false],
    ['defaults null', { version: 1, defaults: null }, false],
    ['defaults a list', { version: 1, defaults: [] }, false],
    ['namespaces empty', { version: 1, namespaces: {} }, true],
    ['namespaces a list', { version: 1, namespaces: [] }, false],
    ['namespaces null', { version: 1, namespaces: null }, false],
    ['a namespace entry null', { version: 1, namespaces: { web: null } }, false],
    ['a namespace entry a list', { version: 1, namespaces: { web: [] } }, false],
    ['a namespace entry empty', { version: 1, namespaces: { web: {} } }, true],
    ['clusters empty', { version: 1, clusters: {} }, true],
    ['clusters a list', { version: 1, clusters: ['prod-eu'] }, false],
    ['clusters null', { version: 1, clusters: null }, false],
    ['a cluster with nothing set (YAML `prod-eu:`)', { version: 1, clusters: { 'prod-eu': null } }, true],
    ['a cluster a list', { version: 1, clusters: { 'prod-eu': [] } }, false],
    ['a cluster a string', { version: 1, clusters: { 'prod-eu': 'warn' } }, false],
    ["a cluster's namespaces a list", { version: 1, clusters: { 'prod-eu': { namespaces: [] } } }, false],
    ["a cluster's namespaces null", { version: 1, clusters: { 'prod-eu': { namespaces: null } } }, false],
    ["a cluster's exceptions", { version: 1, clusters: { 'prod-eu': { exceptions: [] } } }, false],
    ['exceptions empty', { version: 1, exceptions: [] }, true],
    ['exceptions a map', { version: 1, exceptions: {} }, false],
    ['exceptions null', { version: 1, exceptions: null }, false],
    ['an exception null', { version: 1, exceptions: [null] }, false],
    ['an exception a string', { version: 1, exceptions: ['busybox-debug'] }, false],
  ])('%s', (_, document, valid) => expectBoth(document, valid));

  it.each<[string, boolean]>([
    ['team-a', true],
    ['team-a-*', true],
    ['*', true],
    ['0abc', true],
    ['a'.repeat(63), true],
    [`${'a'.repeat(62)}*`, true],
    ['team_a*', false],
    ['Team', false],
    ['-a', false],
    ['a-', false],
    ['-*', false],
    ['a**', false],
    ['*a', false],
    ['a*b', false],
    ['a'.repeat(64), false],
    [`${'a'.repeat(63)}*`, false],
    ['', false],
    [' web', false],
  ])('namespace key %j', (key, valid) => {
    expectBoth({ version: 1, namespaces: { [key]: {} } }, valid);
    expectBoth({ version: 1, clusters: { 'prod-eu': { namespaces: { [key]: {} } } } }, valid);
    expectBoth(withException({ namespaces: [key] }), valid);
  });

  it.each<[string, boolean]>([
    ['prod-eu', true],
    ['Prod_EU.1', true],
    ['0', true],
    ['a'.repeat(100), true],
    ['prod eu', false],
    ['-prod', false],
    ['.prod', false],
    ['_prod', false],
    ['prod/eu', false],
    ['a'.repeat(101), false],
    ['', false],
  ])('cluster name %j', (name, valid) => {
    expectBoth({ version: 1, clusters: { [name]: {} } }, valid);
    expectBoth(withException({ clusters: [name] }), valid);
  });

  describe('exceptions', () => {
    it('accepts a complete exception, with and without clusters and namespaces', () => {
      expectBoth(withException({}), true);
      expectBoth(withException({ clusters: ['dev-us', 'prod-eu'], namespaces: ['debug-*', 'web'] }), true);
      expectBoth({ version: 1, exceptions: [EXCEPTION, { ...EXCEPTION, name: 'other' }] }, true);
    });

    it.each(['name', 'reason', 'expires', 'images'])('refuses one without %s', (key) => expectBoth(withException({}, [key]), false));

    it.each<[string, unknown, boolean]>([
      ['name', 'OPS-123_x.y', true],
      ['name', 'a'.repeat(63), true],
      ['name', 'a'.repeat(64), false],
      ['name', '-x', false],
      ['name', 'a b', false],
      ['name', '', false],
      ['name', 5, false],
      ['reason', 'r', true],
      ['reason', '', false],
      ['reason', ' \t', false],
      ['reason', 5, false],
      ['reason', null, false],
      ['clusters', [], false],
      ['clusters', 'dev-us', false],
      ['clusters', [5], false],
      ['namespaces', [], false],
      ['namespaces', 'web', false],
      ['images', [], false],
      ['images', ['nginx'], false],
      ['images', 'docker.io', false],
      ['images', ['registry.example.com/team', 'localhost:5000'], true],
      ['cluster', ['dev-us'], false],
    ])('%s: %j', (key, value, valid) => expectBoth(withException({ [key]: value }), valid));

    it.each<[unknown, boolean]>([
      ['2027-01-31', true],
      ['1999-12-31', true],
      ['2028-02-29', true],
      ['2000-02-29', true],
      ['2400-02-29', true],
      ['0400-02-29', true],
      ['2027-04-30', true],
      ['0100-01-01', true],
      ['9999-12-31', true],
      ['2100-02-29', false],
      ['2027-02-29', false],
      ['2027-02-30', false],
      ['2027-04-31', false],
      ['2027-13-01', false],
      ['2027-00-10', false],
      ['2027-01-00', false],
      ['2027-01-32', false],
      ['0099-12-31', false],
      ['0000-01-01', false],
      ['2027-1-31', false],
      ['27-01-31', false],
      ['2027/01/31', false],
      ['2027-01-31T00:00:00Z', false],
      [' 2027-01-31', false],
      ['2027-01-31\n', false],
      [20270131, false],
      [null, false],
    ])('expires: %j', (expires, valid) => expectBoth(withException({ expires }), valid));

    it('expires: agrees on February 29 of every year 0000 to 9999, and on every month and day 00 to 32 of four years', () => {
      const pad = (number: number, width: number) => String(number).padStart(width, '0');
      const agree = (expires: string) => expect(schemaAccepts(withException({ expires })), expires).toBe(validatorAccepts(withException({ expires })));
      for (let year = 0; year <= 9999; year += 1) agree(`${pad(year, 4)}-02-29`);
      for (const year of [2000, 2027, 2028, 2100]) {
        for (let month = 0; month <= 13; month += 1) for (let day = 0; day <= 32; day += 1) agree(`${year}-${pad(month, 2)}-${pad(day, 2)}`);
      }
    });
  });
});

/** Documents only the validator refuses: rules across entries, which JSON Schema cannot express. */
const VALIDATOR_ONLY_CASES: Array<[string, unknown, RegExp]> = [
  ['a mirror source given twice, in two spellings', { version: 1, defaults: { imageMirrors: { 'docker.io': 'a.example.com', 'Docker.io': 'b.example.com' } } }, /source "docker.io" twice/],
  ['a mirror source given as index.docker.io and docker.io', { version: 1, defaults: { imageMirrors: { 'index.docker.io': 'a.example.com', 'docker.io': 'b.example.com' } } }, /source "docker.io" twice/],
  ['a mirror source with and without a trailing slash', { version: 1, clusters: { c: { imageMirrors: { 'quay.io/x': 'a.example.com', 'quay.io/x/': 'b.example.com' } } } }, /source "quay.io\/x" twice/],
  ['a mirror target under its own source', { version: 1, defaults: { imageMirrors: { 'docker.io': 'docker.io/mirror' } } }, /target "docker.io\/mirror", which overlaps the source "docker.io"/],
  ['a mirror target over another source', { version: 1, defaults: { imageMirrors: { 'quay.io': 'mirror.example.com', 'mirror.example.com/x': 'other.example.com' } } }, /overlaps the source "mirror.example.com\/x"/],
  ['two exceptions with one name', { version: 1, exceptions: [EXCEPTION, { ...EXCEPTION, images: ['quay.io'] }] }, /"busybox-debug" is already the name of exceptions\[0\]/],
  ['an IPv4 block with bits set after its prefix', { version: 1, clusters: { c: { sourceIps: ['203.0.113.7/24'] } } }, /"203.0.113.7\/24" has bits set after its \/24 prefix: write the block as 203.0.113.0\/24, or the one address as 203.0.113.7/],
  ['an IPv6 block with bits set after its prefix', { version: 1, clusters: { c: { sourceIps: ['2001:db8::1/64'] } } }, /write the block as 2001:db8::\/64, or the one address as 2001:db8::1/],
];

describe('validator-only: what JSON Schema cannot express', () => {
  it.each(VALIDATOR_ONLY_CASES)('%s: the schema accepts it, the validator refuses it', (_, document, message) => {
    expect(schemaAccepts(document)).toBe(true);
    const problems = problemsOf(document);
    expect(problems.map((problem) => problem.message).join('\n')).toMatch(message);
    for (const problem of problems) expect(problem.message).toMatch(VALIDATOR_ONLY);
  });

  it("says so in the schema's description", () => {
    expect(schema.description).toContain('only the validator refuses');
    expect(schema.description).toMatch(/imageMirrors sources that are one registry once normalised/);
    expect(schema.description).toMatch(/mirror target that overlaps a source/);
    expect(schema.description).toMatch(/two exceptions with the same name/);
    expect(schema.description).toMatch(/a sourceIps block with bits set after its prefix/);
  });
});

describe("the schema's fields, enums and names are the validator's", () => {
  const keys = (object: Record<string, unknown>) => Object.keys(object).sort();

  it('has the top-level fields, version required and equal to POLICY_VERSION', () => {
    expect(keys(schema.properties)).toEqual([...TOP_LEVEL_KEYS].sort());
    expect(schema.required).toEqual(['version']);
    expect(schema.properties.version.const).toBe(POLICY_VERSION);
  });

  it("has every field in defaults and a cluster, the namespace fields in namespace entries, an exception's fields", () => {
    expect(keys(schema.properties.defaults.properties)).toEqual([...FIELD_NAMES].sort());
    expect(keys(definition('cluster').properties)).toEqual([...FIELD_NAMES, 'namespaces', ...ORIGIN_FIELDS].sort());
    expect(keys(definition('namespaceEntry').properties)).toEqual([...NAMESPACE_FIELDS].sort());
    expect(keys(definition('exception').properties)).toEqual([...EXCEPTION_KEYS].sort());
    for (const field of FIELD_NAMES) expect(definition(field), field).toBeDefined();
  });

  it('has the enums of the pull policies, modes and actions', () => {
    expect(definition('defaultImagePullPolicy').enum).toEqual([...PULL_POLICIES, null]);
    expect(definition('imagePullPolicyMode').enum).toEqual([...PULL_POLICY_MODES]);
    expect(definition('validationAction').enum).toEqual([...VALIDATION_ACTIONS]);
  });

  it('has the name patterns of the validator', () => {
    expect(definition('namespaceName').pattern).toBe(DNS_LABEL.source);
    expect(definition('secretName').pattern).toBe(DNS_SUBDOMAIN.source);
    expect(definition('clusterName').pattern).toBe(CLUSTER_NAME.source);
    expect(definition('namespacePattern').pattern).toBe(NAMESPACE_PATTERN.source);
    expect(definition('exceptionName').pattern).toBe(EXCEPTION_NAME.source);
    expect(definition('sourceIp').pattern).toBe(SOURCE_ADDRESS.source);
    expect(definition('vpcEndpointId').pattern).toBe(VPC_ENDPOINT_ID.source);
  });
});

describe('generated values and documents (fast-check)', () => {
  /** Strings from pieces that sit near the edges of each rule. */
  const stringOf = (pieces: string[], maxLength = 8) => fc.array(fc.constantFrom(...pieces), { maxLength }).map((parts) => parts.join(''));
  const registryText = stringOf(['a', 'Z', '0', '9', '-', '--', '_', '__', '.', '..', ':', '5000', '/', '//', '[', ']', '::1', 'localhost', 'LocalHost', 'docker.io', 'example.com', ' ', '\t', '@', '=', 'é', '*']);
  const nameText = stringOf(['a', 'z', 'Z', '0', '-', '.', '_', '*', ' ', 'é', 'a'.repeat(30), 'a'.repeat(61)]);
  const dateText = fc.oneof(
    fc.tuple(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 0, max: 13 }), fc.integer({ min: 0, max: 32 })).map(([year, month, day]) =>
      [String(year).padStart(4, '0'), String(month).padStart(2, '0'), String(day).padStart(2, '0')].join('-'),
    ),
    stringOf(['2027', '0', '1', '2', '9', '-', '02', '29', 'T', ' '], 6),
  );
  const agree = (document: unknown) => expect(schemaAccepts(document), JSON.stringify(document)).toBe(validatorAccepts(document));

  it('registries: allowedRegistries entries, pull secret registries, exception images, mirror sources and targets', () => {
    fc.assert(
      fc.property(registryText, (text) => {
        agree({ version: 1, defaults: { allowedRegistries: [text] } });
        agree({ version: 1, defaults: { imagePullSecrets: [{ name: 'ecr', registries: [text] }] } });
        agree(withException({ images: [text] }));
        agree({ version: 1, defaults: { imageMirrors: { [text]: 'mirror.example.com' } } });
        agree({ version: 1, defaults: { imageMirrors: { 'quay.io': text } } });
      }),
      { numRuns: 400 },
    );
  });

  it('names: namespaces, namespace keys, clusters, exceptions, secrets, tags', () => {
    fc.assert(
      fc.property(nameText, (text) => {
        agree({ version: 1, defaults: { exemptNamespaces: [text], imagePullSecretNamespaces: [text] } });
        agree({ version: 1, namespaces: { [text]: {} } });
        agree({ version: 1, clusters: { [text]: null } });
        agree(withException({ name: text, clusters: [text], namespaces: [text] }));
        agree({ version: 1, defaults: { imagePullSecrets: [text], disallowedTags: [text] } });
      }),
      { numRuns: 400 },
    );
  });

  it('sourceIps and vpcEndpointIds: the schema refuses only what the validator refuses, host bits past the prefix aside', () => {
    // Pieces near the edges of the pattern, and real addresses with any prefix (mostly with bits set past it).
    const addressText = fc.oneof(
      stringOf(['0', '1', '9', '25', '255', '256', '07', '.', '..', ':', '::', ':::', 'a', 'F', 'ffff', '12345', 'g', '/', '/0', '/8', '/24', '/32', '/33', '/64', '/128', '/129', '%', ' '], 10),
      fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 33 })).map(([address, prefix]) => `${address}/${prefix}`),
      fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 129 })).map(([address, prefix]) => `${address}/${prefix}`),
    );
    const endpointText = stringOf(['vpce-', 'vpc-', '0', 'a', 'f', 'A', 'g', '0123abcd', '456789abc', ' '], 5);
    let refusedForHostBits = 0;
    fc.assert(
      fc.property(addressText, endpointText, (address, endpoint) => {
        const bound = { version: 1, clusters: { c: { sourceIps: [address] } } };
        const problems = problemsOf(bound);
        if (schemaAccepts(bound) && problems.length > 0) {
          expect(problems.map((problem) => problem.message).join('\n'), address).toMatch(/has bits set after its/);
          refusedForHostBits += 1;
        } else {
          agree(bound);
        }
        agree({ version: 1, clusters: { c: { vpcEndpointIds: [endpoint] } } });
      }),
      { numRuns: 2000 },
    );
    expect(refusedForHostBits).toBeGreaterThan(0);
  });

  it('expires: real calendar days only, YYYY-MM-DD, years 0100 to 9999', () => {
    fc.assert(
      fc.property(dateText, (expires) => {
        agree(withException({ expires }));
      }),
      { numRuns: 1000 },
    );
  });

  it('whole documents: the schema accepts exactly those whose only problems are validator-only', () => {
    /** Mostly `usual`, now and then `unusual`: documents with a mistake or two, and some with none. */
    const mostly = <T, U>(usual: fc.Arbitrary<T>, unusual: fc.Arbitrary<U>) => fc.oneof({ arbitrary: usual, weight: 15 }, { arbitrary: unusual, weight: 1 });
    const junk = fc.constantFrom<unknown>(null, 1, 'x', true, [], {});
    const value = (field: FieldName) => mostly(fc.constantFrom(...FIELD_VALUES[field].good), fc.oneof(fc.constantFrom(...FIELD_VALUES[field].bad), junk));
    const fieldsOf = (fields: readonly FieldName[]) => fc.record(Object.fromEntries(fields.map((field) => [field, value(field)])), { requiredKeys: [] });
    // A key the layer does not have: unknown, a field of another layer, a cluster's `namespaces` or `sourceIps`.
    const withStray = (layer: fc.Arbitrary<Record<string, unknown>>) =>
      fc.tuple(layer, mostly(fc.constant(undefined), fc.constantFrom('colour', 'imageMirrors', 'namespaces', 'sourceIps'))).map(([fields, stray]) =>
        stray === undefined ? fields : { ...fields, [stray]: stray === 'colour' ? 'blue' : stray === 'sourceIps' ? ['203.0.113.7'] : {} },
      );
    const namespaceKey = mostly(fc.constantFrom('team-a', 'team-*', '*', 'sandbox'), fc.constantFrom('Team', 'a_b*'));
    const namespaceMap = mostly(fc.dictionary(namespaceKey, mostly(withStray(fieldsOf(NAMESPACE_FIELDS)), junk), { maxKeys: 3 }), junk);
    const clusterName = mostly(fc.constantFrom('prod-eu', 'dev.us', 'a_b'), fc.constantFrom('-x', 'prod eu'));
    const origins = fc.record(
      Object.fromEntries(ORIGIN_FIELDS.map((field) => [field, mostly(fc.constantFrom(...ORIGIN_VALUES[field].good), fc.oneof(fc.constantFrom(...ORIGIN_VALUES[field].bad), junk))])),
      { requiredKeys: [] },
    );
    const cluster = mostly(
      fc.oneof(
        fc.constant(null),
        fc
          .tuple(withStray(fieldsOf(FIELD_NAMES)), origins, fc.option(namespaceMap, { nil: undefined }))
          .map(([fields, origin, namespaces]) => (namespaces === undefined ? { ...fields, ...origin } : { ...fields, ...origin, namespaces })),
      ),
      junk,
    );
    const exception = mostly(
      fc.record(
        {
          name: mostly(fc.constantFrom('a', 'b', 'c', 'd'), fc.constantFrom<unknown>('-x', 5)),
          reason: mostly(fc.constant('OPS-1'), fc.constantFrom<unknown>(' ', '', null)),
          expires: mostly(fc.constantFrom('2027-01-31', '2024-02-29'), fc.constantFrom<unknown>('2027-02-29', '2027-1-1', 20270131)),
          clusters: mostly(fc.constant(['prod-eu']), fc.constantFrom<unknown>([], ['prod eu'], 'prod-eu')),
          namespaces: mostly(fc.constant(['debug-*']), fc.constantFrom<unknown>([], ['Debug'])),
          images: mostly(fc.constant(['docker.io/library/busybox']), fc.constantFrom<unknown>([], ['busybox'], 'quay.io')),
          cluster: junk,
        },
        { requiredKeys: [] },
      ).map(({ cluster: stray, ...entry }) => (entry.name === 'd' ? { ...entry, cluster: stray } : entry)),
      junk,
    );
    const document = mostly(
      fc.record(
        {
          version: mostly(fc.constant(1), fc.constantFrom<unknown>(2, '1', undefined)),
          defaults: mostly(withStray(fieldsOf(FIELD_NAMES)), junk),
          namespaces: namespaceMap,
          clusters: mostly(fc.dictionary(clusterName, cluster, { maxKeys: 3 }), junk),
          exceptions: mostly(fc.array(exception, { maxLength: 3 }), junk),
        },
        { requiredKeys: ['version'] },
      ).map(({ version, ...rest }) => (version === undefined ? rest : { version, ...rest })),
      junk,
    );
    let accepted = 0;
    let refused = 0;
    fc.assert(
      fc.property(document, (candidate) => {
        const blocking = problemsOf(candidate).filter((problem) => !VALIDATOR_ONLY.test(problem.message));
        expect(schemaAccepts(candidate), JSON.stringify({ candidate, blocking })).toBe(blocking.length === 0);
        if (blocking.length === 0) accepted += 1;
        else refused += 1;
      }),
      { numRuns: 600 },
    );
    // The generator reaches both sides: a property over refusals alone would say little. About one
    // document in nine is accepted (55-80 of 600 in eight runs); 20 is six deviations below that.
    expect(accepted).toBeGreaterThan(20);
    expect(refused).toBeGreaterThan(50);
  });
});

describe('the shipped policies follow the schema', () => {
  const files = ['policy.yaml', ...readdirSync(join(ROOT, 'examples', 'policies')).map((name) => join('examples', 'policies', name))];

  it.each(files)('%s', (file) => {
    const text = readFileSync(join(ROOT, file), 'utf8');
    const reference = /^# yaml-language-server: \$schema=(\S+)\n/.exec(text)?.[1];
    expect(reference, 'the first line names the schema for editors').toBeDefined();
    expect(resolve(dirname(join(ROOT, file)), reference!)).toBe(SCHEMA_FILE);
    const document = parse(text, { version: '1.2' });
    expectBoth(document, true);
  });

  it('so does the document the environment variables stand for (the no-file form)', () => {
    expectBoth(policyDocumentFromEnv(DEFAULTS), true);
  });
});
