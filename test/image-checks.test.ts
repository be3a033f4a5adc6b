/** The image checks validate chains: each a pure function of a parsed reference and the configuration. */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../lib/policies/fleet/config';
import { digestCheck, firstProblem, registryCheck, tagCheck } from '../lib/policies/images/image-checks';
import { type ImageReference, parseImageReference } from '../lib/policies/images/image-reference';

const SHA = `sha256:${'ab'.repeat(32)}`;

function reference(image: string): ImageReference {
  const result = parseImageReference(image);
  if (!result.ok) throw new Error(`test image ${image} does not parse: ${result.reason}`);
  return result.reference;
}

describe('registryCheck', () => {
  const config = loadConfig({ ALLOWED_REGISTRIES: 'registry.example.com/team' });

  it('passes an allowed image and fails another, with the near-miss reason where there is one', () => {
    expect(registryCheck(reference('registry.example.com/team/app'), config)).toBeUndefined();
    expect(registryCheck(reference('nginx'), config)).toEqual({ rule: 'registry' });
    expect(registryCheck(reference('registry.example.com/ops/app'), config)).toEqual({
      rule: 'registry',
      detail: 'ops/app is outside registry.example.com/team',
    });
  });
});

describe('tagCheck', () => {
  const config = loadConfig({ DISALLOWED_TAGS: 'latest,dev' });

  it.each([
    ['nginx:1.27', undefined],
    ['nginx:latest', 'tag "latest" is not allowed'],
    ['nginx:dev', 'tag "dev" is not allowed'],
    ['nginx', 'no tag means "latest", which is not allowed'],
    [`nginx:latest@${SHA}`, undefined],
    [`nginx@${SHA}`, undefined],
  ])('%s: %s', (image, detail) => {
    expect(tagCheck(reference(image), config)).toEqual(detail === undefined ? undefined : { rule: 'tag', detail });
  });

  it('passes everything when no tag is disallowed', () => {
    expect(tagCheck(reference('nginx'), loadConfig({}))).toBeUndefined();
  });

  it('does not count an untagged image as latest when latest is allowed', () => {
    expect(tagCheck(reference('nginx'), loadConfig({ DISALLOWED_TAGS: 'dev' }))).toBeUndefined();
  });
});

describe('digestCheck', () => {
  it('fails an image without a digest only when REQUIRE_DIGEST is true', () => {
    const on = loadConfig({ REQUIRE_DIGEST: 'true' });
    expect(digestCheck(reference('nginx:1.27'), on)).toEqual({ rule: 'digest', detail: 'not pinned by digest' });
    expect(digestCheck(reference(`nginx@${SHA}`), on)).toBeUndefined();
    expect(digestCheck(reference('nginx:1.27'), loadConfig({}))).toBeUndefined();
  });
});

describe('firstProblem', () => {
  const config = loadConfig({ ALLOWED_REGISTRIES: 'registry.example.com', DISALLOWED_TAGS: 'latest', REQUIRE_DIGEST: 'true' });

  it('stops at the first check that fails: registry, then digest, then tag', () => {
    expect(firstProblem(reference('nginx:latest'), config)?.rule).toBe('registry');
    expect(firstProblem(reference('registry.example.com/x:latest'), config)?.rule).toBe('digest');
    expect(firstProblem(reference('registry.example.com/x:1'), config)?.rule).toBe('digest');
    expect(firstProblem(reference(`registry.example.com/x:latest@${SHA}`), config)).toBeUndefined();
    expect(firstProblem(reference('registry.example.com/x:latest'), { ...config, requireDigest: false })?.rule).toBe('tag');
  });
});
