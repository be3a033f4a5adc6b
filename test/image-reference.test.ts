import { describe, expect, it } from 'vitest';
import {
  type ImageReference,
  type RegistryRule,
  formatImageReference,
  formatRegistryRule,
  isAllowedImage,
  nearMissReason,
  parseImageReference,
  parseRegistryRule,
} from '../lib/policies/images/image-reference';

const SHA256 = '0123456789abcdef'.repeat(4);

type Expected = Omit<ImageReference, 'tag' | 'digest'> & { tag?: string; digest?: string };

const parsed: Array<[image: string, expected: Expected]> = [
  ['registry.example.com/x', { registry: 'registry.example.com', repository: 'x' }],
  ['registry.example.com/team/app:1.2', { registry: 'registry.example.com', repository: 'team/app', tag: '1.2' }],
  ['REGISTRY.EXAMPLE.COM/x', { registry: 'registry.example.com', repository: 'x' }],
  ['Registry.Example.Com/x:V1', { registry: 'registry.example.com', repository: 'x', tag: 'V1' }],
  // Look-alike hosts: each is a different registry, never registry.example.com.
  ['registry.example.com.evil.io/x', { registry: 'registry.example.com.evil.io', repository: 'x' }],
  ['docker.io/registry.example.com/x', { registry: 'docker.io', repository: 'registry.example.com/x' }],
  ['evil.io/registry.example.com/x', { registry: 'evil.io', repository: 'registry.example.com/x' }],
  ['registry.example.com:5000/x', { registry: 'registry.example.com:5000', repository: 'x' }],
  ['registry.example.com:5000/x:5000', { registry: 'registry.example.com:5000', repository: 'x', tag: '5000' }],
  // Docker Hub normalisation.
  ['python:3.7', { registry: 'docker.io', repository: 'library/python', tag: '3.7' }],
  ['nginx', { registry: 'docker.io', repository: 'library/nginx' }],
  ['bitnami/nginx:latest', { registry: 'docker.io', repository: 'bitnami/nginx', tag: 'latest' }],
  ['index.docker.io/x', { registry: 'docker.io', repository: 'library/x' }],
  ['index.docker.io/team/x', { registry: 'docker.io', repository: 'team/x' }],
  // ...but only for those exact lower-case spellings, as the runtime's parser does: another
  // spelling of the host compares as docker.io and keeps its path as written.
  ['Docker.io/evil', { registry: 'docker.io', repository: 'evil' }],
  ['DOCKER.IO/library/x', { registry: 'docker.io', repository: 'library/x' }],
  ['Index.docker.io/x', { registry: 'index.docker.io', repository: 'x' }],
  ['docker.io/x:1', { registry: 'docker.io', repository: 'library/x', tag: '1' }],
  ['docker.io/library/python:3.9-slim', { registry: 'docker.io', repository: 'library/python', tag: '3.9-slim' }],
  // A bare host with no path is a Docker Hub repository whose tag is the "port".
  ['registry.example.com:5000', { registry: 'docker.io', repository: 'library/registry.example.com', tag: '5000' }],
  // localhost and IP hosts.
  ['localhost/x', { registry: 'localhost', repository: 'x' }],
  ['localhost:5000/x', { registry: 'localhost:5000', repository: 'x' }],
  ['localhost:5000/x:1', { registry: 'localhost:5000', repository: 'x', tag: '1' }],
  ['[::1]:5000/x', { registry: '[::1]:5000', repository: 'x' }],
  ['[::1]/x:tag', { registry: '[::1]', repository: 'x', tag: 'tag' }],
  ['127.0.0.1:5000/a/b', { registry: '127.0.0.1:5000', repository: 'a/b' }],
  // An upper-case first component is a registry, as in container runtimes.
  ['Host/x', { registry: 'host', repository: 'x' }],
  // Digests.
  [`registry.example.com/x@sha256:${SHA256}`, { registry: 'registry.example.com', repository: 'x', digest: `sha256:${SHA256}` }],
  [
    `registry.example.com/x:1.0@sha256:${SHA256}`,
    { registry: 'registry.example.com', repository: 'x', tag: '1.0', digest: `sha256:${SHA256}` },
  ],
  [`nginx@sha512:${'ab'.repeat(64)}`, { registry: 'docker.io', repository: 'library/nginx', digest: `sha512:${'ab'.repeat(64)}` }],
  // Separators inside repository components.
  ['registry.example.com/a.b_c__d-e--f/g', { registry: 'registry.example.com', repository: 'a.b_c__d-e--f/g' }],
];

const refused: Array<[image: string, reason: RegExp]> = [
  ['', /^image is empty$/],
  [' nginx', /leading or trailing whitespace/],
  ['nginx ', /leading or trailing whitespace/],
  ['\tnginx', /leading or trailing whitespace/],
  ['ngi nx', /contains whitespace/],
  ['registry.example.com/x\n:1', /contains whitespace/],
  ['registry.example.com/UPPER', /repository name "UPPER" must be lowercase/],
  ['registry.example.com/Team/app', /must be lowercase/],
  ['registry.example.com@evil.io/x', /digest "evil.io\/x" is not of the form algorithm:hex/],
  [`registry.example.com/x@sha256:${SHA256.slice(0, 10)}`, /sha256 digest must be 64 lower-case hexadecimal characters/],
  [`registry.example.com/x@sha256:${SHA256.toUpperCase()}`, /sha256 digest must be 64 lower-case hexadecimal characters/],
  [`registry.example.com/x@md5:${SHA256.slice(0, 32)}`, /digest algorithm "md5" is not supported/],
  ['registry.example.com/x@', /digest "" is not of the form algorithm:hex/],
  [`registry.example.com/x@sha256:${SHA256}@sha256:${SHA256}`, /not of the form algorithm:hex/],
  ['x.io:abc/y', /registry "x.io:abc" is not a valid host\[:port\]/],
  ['-bad.io/x', /registry "-bad.io" is not a valid host/],
  ['registry.example.com./x', /registry "registry.example.com." is not a valid host/],
  ['registry.example.com/x:', /tag "" is not valid/],
  ['registry.example.com/x:-1', /tag "-1" is not valid/],
  [`registry.example.com/x:${'t'.repeat(129)}`, /tag "t+" is not valid/],
  ['registry.example.com/', /repository name is empty/],
  [':tag', /repository name is empty/],
  [`@sha256:${SHA256}`, /repository name is empty/],
  ['registry.example.com/x$', /repository name "x\$" is not valid/],
  ['registry.example.com/a//b', /repository name "a\/\/b" is not valid/],
  ['registry.example.com/-x', /is not valid/],
  ['registry.example.com/x_', /is not valid/],
  ['registry.example.com/a___b', /is not valid/],
  ['ngin!x', /repository name "ngin!x" is not valid/],
  ['registry.example.com/é', /is not valid/],
  [SHA256, /cannot be a 64-character hexadecimal string/],
  [`${SHA256}:latest`, /cannot be a 64-character hexadecimal string/],
  [`registry.example.com/${'a'.repeat(256)}`, /repository path must not be longer than 255 characters/],
  [`${'a/'.repeat(130)}b`, /must not be longer than 255 characters/],
  // Official images count `library/` in the path, as the runtime's normalised name does.
  [`${'a'.repeat(248)}`, /must not be longer than 255 characters/],
];

describe('parseImageReference', () => {
  it.each(parsed)('parses %j', (image, expected) => {
    const result = parseImageReference(image);
    expect(result).toEqual({ ok: true, reference: expected });
  });

  it.each(refused)('refuses %j', (image, reason) => {
    const result = parseImageReference(image);
    expect(result.ok).toBe(false);
    if (!result.ok) expect(result.reason).toMatch(reason);
  });

  it('limits the repository path to 255 characters, whatever the length of the host', () => {
    const path = `team/${'a'.repeat(250)}`;
    expect(path.length).toBe(255);
    for (const host of ['registry.example.com', `${'h'.repeat(60)}.${'o'.repeat(60)}.example.com:5000`]) {
      expect(parseImageReference(`${host}/${path}:1`)).toEqual({ ok: true, reference: { registry: host, repository: path, tag: '1' } });
      expect(parseImageReference(`${host}/${path}a`).ok).toBe(false);
    }
    expect(parseImageReference(`${'a'.repeat(247)}`).ok).toBe(true);
  });

  it('allows registry.example.com/team/ and a 235-character name (over 255 with the host)', () => {
    const image = `registry.example.com/team/${'x'.repeat(235)}`;
    expect(image.length).toBeGreaterThan(255);
    const result = parseImageReference(image);
    expect(result.ok && isAllowedImage(result.reference, [parseRegistryRule('registry.example.com/team')])).toBe(true);
  });

  it('accepts a 64-hex repository when it is not a bare Docker Hub name', () => {
    expect(parseImageReference(`registry.example.com/${SHA256}`)).toEqual({
      ok: true,
      reference: { registry: 'registry.example.com', repository: SHA256 },
    });
  });
});

const rule = (host: string, pathPrefix = ''): RegistryRule => ({ host, pathPrefix });

function allowedBy(image: string, rules: readonly RegistryRule[]): boolean {
  const result = parseImageReference(image);
  if (!result.ok) throw new Error(`test image ${image} does not parse: ${result.reason}`);
  return isAllowedImage(result.reference, rules);
}

describe('isAllowedImage', () => {
  const registryOnly = [rule('registry.example.com')];

  it.each([
    ['registry.example.com/x', true],
    ['REGISTRY.EXAMPLE.COM/x', true],
    [`registry.example.com/team/app:1@sha256:${SHA256}`, true],
    ['registry.example.com.evil.io/x', false],
    ['docker.io/registry.example.com/x', false],
    ['evil.io/registry.example.com/x', false],
    ['registry.example.com:5000/x', false],
    ['example.com/x', false],
    ['python:3.7', false],
    ['registry.example.com:5000', false],
    ['localhost/x', false],
  ])('with registry.example.com, %s is allowed: %s', (image, expected) => {
    expect(allowedBy(image, registryOnly)).toBe(expected);
  });

  it('matches a path prefix on whole segments', () => {
    const rules = [parseRegistryRule('registry.example.com/team')];
    expect(allowedBy('registry.example.com/team/app', rules)).toBe(true);
    expect(allowedBy('registry.example.com/team/sub/app:1', rules)).toBe(true);
    expect(allowedBy('registry.example.com/team', rules)).toBe(true);
    expect(allowedBy('registry.example.com/teamx/app', rules)).toBe(false);
    expect(allowedBy('registry.example.com/tea', rules)).toBe(false);
    expect(allowedBy('registry.example.com/other/team/app', rules)).toBe(false);
    expect(allowedBy('evil.io/team/app', rules)).toBe(false);
  });

  it('requires the port to match exactly', () => {
    const rules = [parseRegistryRule('registry.example.com:5000')];
    expect(allowedBy('registry.example.com:5000/x', rules)).toBe(true);
    expect(allowedBy('registry.example.com/x', rules)).toBe(false);
    expect(allowedBy('registry.example.com:50000/x', rules)).toBe(false);
  });

  it('allows Docker Hub images only through a docker.io rule, with library/ for official images', () => {
    expect(allowedBy('python:3.7', [parseRegistryRule('docker.io')])).toBe(true);
    expect(allowedBy('index.docker.io/x', [parseRegistryRule('index.docker.io')])).toBe(true);
    expect(allowedBy('python:3.7', [parseRegistryRule('docker.io/library')])).toBe(true);
    expect(allowedBy('bitnami/nginx', [parseRegistryRule('docker.io/library')])).toBe(false);
  });

  it('does not let another spelling of docker.io pass for an official image', () => {
    const officialOnly = [parseRegistryRule('docker.io/library')];
    expect(allowedBy('Docker.io/evil', officialOnly)).toBe(false);
    expect(allowedBy('docker.io/evil', officialOnly)).toBe(true);
    // The host itself still compares case-insensitively.
    expect(allowedBy('Docker.io/evil', [parseRegistryRule('docker.io')])).toBe(true);
    expect(allowedBy('Docker.io/library/x', officialOnly)).toBe(true);
  });

  it('allows an image matched by any of several rules', () => {
    const rules = [rule('a.io'), rule('localhost:5000'), rule('[::1]:5000')];
    expect(allowedBy('localhost:5000/x', rules)).toBe(true);
    expect(allowedBy('[::1]:5000/x', rules)).toBe(true);
    expect(allowedBy('a.io/x/y', rules)).toBe(true);
    expect(allowedBy('localhost/x', rules)).toBe(false);
    expect(allowedBy('b.io/x', rules)).toBe(false);
  });

  it('allows nothing with no rules', () => {
    expect(allowedBy('registry.example.com/x', [])).toBe(false);
  });
});

describe('parseRegistryRule', () => {
  it.each([
    ['registry.example.com', rule('registry.example.com')],
    ['  REGISTRY.example.com  ', rule('registry.example.com')],
    ['registry.example.com/', rule('registry.example.com')],
    ['registry.example.com/team', rule('registry.example.com', 'team')],
    ['registry.example.com/team/sub/', rule('registry.example.com', 'team/sub')],
    ['registry.example.com:5000', rule('registry.example.com:5000')],
    ['localhost', rule('localhost')],
    ['localhost:5000', rule('localhost:5000')],
    ['[::1]:5000', rule('[::1]:5000')],
    ['index.docker.io', rule('docker.io')],
  ])('parses %j', (entry, expected) => {
    expect(parseRegistryRule(entry)).toEqual(expected);
  });

  it.each([
    ['nginx', /"nginx" is not a registry/],
    ['http://x.io', /"http:\/\/x.io" is not a registry/],
    ['x.io:abc', /"x.io:abc" is not a registry/],
    ['', /is not a registry/],
    ['.io', /is not a registry/],
    ['x.io/UPPER', /"x.io\/UPPER" has an invalid repository path "UPPER"/],
    ['x.io/a:tag', /has an invalid repository path "a:tag"/],
    [`x.io/a@sha256:${SHA256}`, /has an invalid repository path/],
    ['x.io/a//b', /has an invalid repository path/],
  ])('refuses %j', (entry, message) => {
    expect(() => parseRegistryRule(entry)).toThrow(message);
  });

  it('formats back to the entry it came from', () => {
    expect(formatRegistryRule(parseRegistryRule('registry.example.com'))).toBe('registry.example.com');
    expect(formatRegistryRule(parseRegistryRule('Registry.Example.com:5000/team/'))).toBe('registry.example.com:5000/team');
  });
});

function reference(image: string): ImageReference {
  const result = parseImageReference(image);
  if (!result.ok) throw new Error(`test image ${image} does not parse: ${result.reason}`);
  return result.reference;
}

describe('nearMissReason', () => {
  const rules = (...entries: string[]) => entries.map(parseRegistryRule);

  it.each([
    ['registry.example.com:443/team/app', ['registry.example.com'], 'registry.example.com:443 is not registry.example.com: the port is part of the registry name'],
    ['registry.example.com/x', ['registry.example.com:5000'], 'registry.example.com is not registry.example.com:5000: the port is part of the registry name'],
    ['registry.example.com:5001/x', ['registry.example.com:5000/team'], 'registry.example.com:5001 is not registry.example.com:5000: the port is part of the registry name'],
    ['[::1]:5001/x', ['[::1]:5000'], '[::1]:5001 is not [::1]:5000: the port is part of the registry name'],
    ['[::1]/x', ['[::1]:5000'], '[::1] is not [::1]:5000: the port is part of the registry name'],
    ['registry.example.com/team2/app', ['registry.example.com/team'], 'team2/app is outside registry.example.com/team'],
    ['registry.example.com/other/team/app', ['registry.example.com/team', 'registry.example.com/ops'], 'other/team/app is outside registry.example.com/team, registry.example.com/ops'],
    ['Docker.io/evil', ['docker.io/library'], 'evil is outside docker.io/library'],
    // The host and path rule wins over the port rule when both apply.
    ['registry.example.com/x', ['registry.example.com:5000', 'registry.example.com/team'], 'x is outside registry.example.com/team'],
  ])('explains why %s misses %j', (image, entries, reason) => {
    expect(isAllowedImage(reference(image), rules(...entries))).toBe(false);
    expect(nearMissReason(reference(image), rules(...entries))).toBe(reason);
  });

  it.each([
    ['nginx:1.27', ['registry.example.com']],
    ['registry.example.com.evil.io/x', ['registry.example.com']],
    ['evil.io/registry.example.com/x', ['registry.example.com']],
    ['example.com/x', ['registry.example.com']],
    ['localhost:5000/x', ['[::1]:5000']],
  ])('gives no reason for %s against %j: not a near miss', (image, entries) => {
    expect(nearMissReason(reference(image), rules(...entries))).toBeUndefined();
  });
});

describe('formatImageReference', () => {
  it.each([
    ['nginx', 'docker.io/library/nginx'],
    ['registry.example.com:5000/team/app:1.0', 'registry.example.com:5000/team/app:1.0'],
    [`[::1]:5000/x:1@sha256:${SHA256}`, `[::1]:5000/x:1@sha256:${SHA256}`],
    [`REGISTRY.example.com/x@sha256:${SHA256}`, `registry.example.com/x@sha256:${SHA256}`],
  ])('writes %s out in full as %s, which parses back to the same reference', (image, written) => {
    expect(formatImageReference(reference(image))).toBe(written);
    expect(reference(written)).toEqual(reference(image));
  });
});
