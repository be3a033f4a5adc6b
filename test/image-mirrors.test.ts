/** Registry mirror rules: parsing, which source wins, and what an image becomes. */
import { describe, expect, it } from 'vitest';
import { type MirrorRule, mirrorOf, mirroredImage, parseMirrorRules } from '../lib/policies/images/image-mirrors';
import { parseImageReference } from '../lib/policies/images/image-reference';

const SHA256 = '0123456789abcdef'.repeat(4);
const ECR = '111122223333.dkr.ecr.eu-west-1.amazonaws.com';

const rules = (...entries: string[]): MirrorRule[] => parseMirrorRules(entries);

describe('mirroredImage', () => {
  it.each<[image: string, entries: string[], expected: string | undefined]>([
    // The ECR pull-through cache of the design: official images keep library/.
    ['nginx:1.27', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx:1.27`],
    ['nginx', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx`],
    ['docker.io/library/nginx:1.27', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx:1.27`],
    ['index.docker.io/nginx:1.27', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx:1.27`],
    ['bitnami/redis:7', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/bitnami/redis:7`],
    // The host compares case-insensitively; the path stays as the runtime reads it (no library/).
    ['Docker.io/team/x:1', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/team/x:1`],
    ['Docker.io/evil', [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/evil`],
    // Tag and digest are kept, alone or together.
    [`nginx@sha256:${SHA256}`, [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx@sha256:${SHA256}`],
    [`nginx:1.27@sha256:${SHA256}`, [`docker.io=${ECR}/docker-hub`], `${ECR}/docker-hub/library/nginx:1.27@sha256:${SHA256}`],
    // A source with a path prefix: the prefix is replaced by the target's.
    ['registry.example.com/team/app:1', ['registry.example.com/team=mirror.example.com/cache/team-a'], 'mirror.example.com/cache/team-a/app:1'],
    ['registry.example.com/team/sub/app', ['registry.example.com/team=mirror.example.com'], 'mirror.example.com/sub/app'],
    ['registry.example.com/team', ['registry.example.com/team=mirror.example.com/t'], 'mirror.example.com/t'],
    // ...on whole segments only.
    ['registry.example.com/teamx/app', ['registry.example.com/team=mirror.example.com'], undefined],
    ['registry.example.com/other/team/app', ['registry.example.com/team=mirror.example.com'], undefined],
    ['registry.example.com/tea', ['registry.example.com/team=mirror.example.com'], undefined],
    // Official images only: docker.io/library.
    ['nginx', ['docker.io/library=mirror.example.com/official'], 'mirror.example.com/official/nginx'],
    ['bitnami/redis', ['docker.io/library=mirror.example.com/official'], undefined],
    // Ports are part of the host, on both sides.
    ['registry.example.com:5000/x:1', ['registry.example.com:5000=mirror.example.com:8443/five'], 'mirror.example.com:8443/five/x:1'],
    ['registry.example.com/x', ['registry.example.com:5000=mirror.example.com'], undefined],
    ['registry.example.com:5001/x', ['registry.example.com:5000=mirror.example.com'], undefined],
    ['localhost:5000/x', ['localhost:5000=registry.example.com/local'], 'registry.example.com/local/x'],
    ['localhost/x', ['localhost:5000=registry.example.com/local'], undefined],
    // IPv6 hosts.
    [`[::1]:5000/a/b:1@sha256:${SHA256}`, ['[::1]:5000=[fd00::1]:443/cache'], `[fd00::1]:443/cache/a/b:1@sha256:${SHA256}`],
    ['[::1]/x', ['[::1]:5000=registry.example.com'], undefined],
    ['public.example.org/team/x', ['public.example.org=[::1]:5000'], '[::1]:5000/team/x'],
    // Look-alike hosts are other registries.
    ['registry.example.com.evil.io/x', ['registry.example.com=mirror.example.com'], undefined],
    ['docker.io/registry.example.com/x', ['registry.example.com=mirror.example.com'], undefined],
    // Unparseable images are left alone, for validate to deny.
    ['', [`docker.io=${ECR}/docker-hub`], undefined],
    ['Nginx:1.27', [`docker.io=${ECR}/docker-hub`], undefined],
    [' nginx', [`docker.io=${ECR}/docker-hub`], undefined],
    ['<your-private-image>', [`docker.io=${ECR}/docker-hub`], undefined],
    [`nginx@sha256:${SHA256.slice(1)}`, [`docker.io=${ECR}/docker-hub`], undefined],
    // An image already in a target is not under any source, so it stays.
    [`${ECR}/docker-hub/library/nginx:1.27`, [`docker.io=${ECR}/docker-hub`], undefined],
  ])('%s with %j -> %s', (image, entries, expected) => {
    expect(mirroredImage(image, rules(...entries))).toBe(expected);
  });

  it('leaves images that are not strings alone, and everything when no rule is configured', () => {
    const mirrors = rules(`docker.io=${ECR}/docker-hub`);
    expect(mirroredImage(undefined, mirrors)).toBeUndefined();
    expect(mirroredImage(42, mirrors)).toBeUndefined();
    expect(mirroredImage('nginx', [])).toBeUndefined();
  });

  it('uses the longest matching source, whatever the order of the rules', () => {
    const entries = [
      'registry.example.com=mirror.example.com/all',
      'registry.example.com/team=mirror.example.com/team-cache',
      'registry.example.com/team/special=mirror.example.com/special',
    ];
    for (const order of [entries, [...entries].reverse(), [entries[1] ?? '', entries[2] ?? '', entries[0] ?? '']]) {
      const mirrors = rules(...order);
      expect(mirroredImage('registry.example.com/team/special/app:1', mirrors)).toBe('mirror.example.com/special/app:1');
      expect(mirroredImage('registry.example.com/team/special', mirrors)).toBe('mirror.example.com/special');
      expect(mirroredImage('registry.example.com/team/specialist/app', mirrors)).toBe('mirror.example.com/team-cache/specialist/app');
      expect(mirroredImage('registry.example.com/team/app', mirrors)).toBe('mirror.example.com/team-cache/app');
      expect(mirroredImage('registry.example.com/ops/app', mirrors)).toBe('mirror.example.com/all/ops/app');
    }
  });

  it('leaves an image alone when its rewritten form would not parse back to the intended repository', () => {
    // Over the runtime's 255-character limit for the repository path once the target prefix is added.
    const long = `registry.example.com/${'a'.repeat(250)}`;
    expect(parseImageReference(long).ok).toBe(true);
    expect(mirroredImage(long, rules('registry.example.com=mirror.example.com/a/much/longer/prefix'))).toBeUndefined();
    // A one-segment path into a bare docker.io would be read as docker.io/library/<path>: a different repository.
    expect(mirroredImage('public.example.org/org/app', rules('public.example.org/org=docker.io'))).toBeUndefined();
    expect(mirroredImage('public.example.org/org/team/app', rules('public.example.org/org=docker.io'))).toBe('docker.io/team/app');
    // The source itself with nothing after it, into a target without a prefix: no repository at all.
    expect(mirroredImage('registry.example.com/team', rules('registry.example.com/team=mirror.example.com'))).toBeUndefined();
  });
});

describe('a flat layout in the target (docs/configuration.md)', () => {
  it('sends official images without library/ when docker.io/library has its own, longer rule', () => {
    const flat = parseMirrorRules(['docker.io/library=mirror.example.com/hub', 'docker.io=mirror.example.com/hub']);
    expect(mirroredImage('nginx:1.27', flat)).toBe('mirror.example.com/hub/nginx:1.27');
    expect(mirroredImage('grafana/grafana:11.0.0', flat)).toBe('mirror.example.com/hub/grafana/grafana:11.0.0');
    expect(mirroredImage('mirror.example.com/hub/nginx:1.27', flat)).toBeUndefined();
  });
});

describe('mirrorOf', () => {
  it('gives the rewritten reference, the image as written and the rule that applied', () => {
    const mirrors = rules('code.example.org=mirror.example.com/github', `docker.io=${ECR}/docker-hub`);
    const parsed = parseImageReference('nginx:1.27');
    if (!parsed.ok) throw new Error(parsed.reason);
    expect(mirrorOf(parsed.reference, mirrors)).toEqual({
      reference: { registry: ECR, repository: 'docker-hub/library/nginx', tag: '1.27' },
      image: `${ECR}/docker-hub/library/nginx:1.27`,
      rule: mirrors[1],
    });
  });
});

describe('parseMirrorRules', () => {
  it('parses each side as an allow-list entry: lower-case host, optional port, path prefix, index.docker.io as docker.io', () => {
    expect(rules('Index.Docker.IO=Mirror.example.com:5000/hub/', 'code.example.org/org=[::1]:5000')).toEqual([
      { source: { host: 'docker.io', pathPrefix: '' }, target: { host: 'mirror.example.com:5000', pathPrefix: 'hub' } },
      { source: { host: 'code.example.org', pathPrefix: 'org' }, target: { host: '[::1]:5000', pathPrefix: '' } },
    ]);
    expect(rules()).toEqual([]);
  });

  it.each<[entries: string[], message: RegExp]>([
    [['docker.io'], /"docker.io", which is not of the form source=target/],
    [['docker.io=a.io=b.io'], /not of the form source=target/],
    [['=mirror.example.com'], /whose source "" is not a registry/],
    [['docker.io=nginx'], /whose target "nginx" is not a registry/],
    [['docker.io=https://mirror.example.com'], /whose target "https:\/\/mirror.example.com" is not a registry/],
    [['docker.io=mirror.example.com/a@sha256:0'], /has an invalid repository path/],
    // A target under a source, or a source under a target: a second pass would rewrite again.
    [['docker.io=docker.io/mirror'], /target "docker.io\/mirror", which overlaps the source "docker.io"/],
    [['docker.io=index.docker.io/mirror'], /target "docker.io\/mirror", which overlaps the source "docker.io"/],
    [['registry.example.com/team=registry.example.com/team/cache'], /overlaps the source "registry.example.com\/team"/],
    [['registry.example.com/team=registry.example.com'], /target "registry.example.com", which overlaps the source "registry.example.com\/team"/],
    [['docker.io=mirror.example.com', 'mirror.example.com/x=registry.example.com'], /target "mirror.example.com", which overlaps the source "mirror.example.com\/x"/],
    [['public.example.org=[::1]:5000/q', '[::1]:5000=registry.example.com'], /target "\[::1\]:5000\/q", which overlaps the source "\[::1\]:5000"/],
    [['docker.io=a.example.com', 'docker.io=b.example.com'], /source "docker.io" twice/],
  ])('refuses %j', (entries, message) => {
    expect(() => parseMirrorRules(entries)).toThrow(message);
  });

  it('accepts targets on the same host as a source when neither path lies under the other', () => {
    expect(() => rules('registry.example.com/team=registry.example.com/team-cache', 'registry.example.com:5000=registry.example.com/five')).not.toThrow();
    const mirrors = rules('registry.example.com/team=registry.example.com/team-cache');
    const once = mirroredImage('registry.example.com/team/app:1', mirrors);
    expect(once).toBe('registry.example.com/team-cache/app:1');
    expect(mirroredImage(once, mirrors)).toBeUndefined();
  });
});
