/**
 * The README and the docs: README.md's table of contents (the list under **Contents**) names every
 * `##` heading, in order, with the anchor GitHub gives it; the README stays a front door (about 250
 * lines); every relative link of the README, docs/, CONTRIBUTING.md and CHANGELOG.md resolves, to a
 * file and, with `#`, to one of its headings; the quick start's answers are the handlers'.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkPolicyText } from '../lib/cli/policy-file';
import { loadConfig } from '../lib/policies/fleet/config';
import { createFleetPolicy } from '../lib/policies/fleet/fleet-policy';

const ROOT = join(import.meta.dirname, '..');
const README = readFileSync(join(ROOT, 'README.md'), 'utf8');
const DOCS = ['README.md', 'CONTRIBUTING.md', 'CHANGELOG.md', ...readdirSync(join(ROOT, 'docs')).filter((name) => name.endsWith('.md')).map((name) => `docs/${name}`)];

/** GitHub's heading anchor: lower case, punctuation (backticks included) dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
}

/** Every heading's anchor in a file, as GitHub numbers repeats (`name`, `name-1`, ...). */
function anchorsOf(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  let inFence = false;
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    const heading = /^#{1,6} (.+)$/.exec(line);
    if (inFence || !heading) continue;
    const base = anchor(heading[1]!.trim());
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    anchors.add(count === 0 ? base : `${base}-${count}`);
  }
  return anchors;
}

/** Relative markdown links outside code blocks: `[text](target)` with no scheme. */
function relativeLinks(markdown: string): string[] {
  let inFence = false;
  const links: string[] = [];
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```') || line.trimStart().startsWith('```')) {
      inFence = !inFence;
      continue;
    }
    if (inFence) continue;
    for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = match[1]!;
      if (!/^[a-z]+:/i.test(target)) links.push(target);
    }
  }
  return links;
}

/** The `##` headings outside code blocks, in order. */
function sectionHeadings(markdown: string): string[] {
  let inFence = false;
  const headings: string[] = [];
  for (const line of markdown.split('\n')) {
    if (line.startsWith('```')) inFence = !inFence;
    else if (!inFence && line.startsWith('## ')) headings.push(line.slice(3).trim());
  }
  return headings;
}

function contents(markdown: string): Array<{ text: string; target: string }> {
  const start = markdown.indexOf('\n**Contents**\n\n');
  if (start === -1) return [];
  const list = markdown.slice(start + '\n**Contents**\n\n'.length).split('\n\n')[0] ?? '';
  return list.split('\n').map((line) => {
    const match = /^- \[(.+)\]\(#([^)]+)\)$/.exec(line);
    if (!match) throw new Error(`not a contents entry: ${line}`);
    return { text: match[1]!, target: match[2]! };
  });
}

describe('README table of contents', () => {
  it('lists exactly the ## headings, in order, each linked to its anchor', () => {
    const headings = sectionHeadings(README);
    expect(headings.length).toBeGreaterThan(5);
    expect(contents(README)).toEqual(headings.map((heading) => ({ text: heading, target: anchor(heading) })));
  });

  it('comes before the first section', () => {
    expect(README.indexOf('\n**Contents**\n')).toBeLessThan(README.indexOf('\n## '));
  });

  it('anchors headings as GitHub does', () => {
    expect(anchor('Review manifests offline')).toBe('review-manifests-offline');
    expect(anchor('Image pull policy: `default` and `enforce`')).toBe('image-pull-policy-default-and-enforce');
    expect(sectionHeadings('## A\n```sh\n## not a heading\n```\n## B\n### C\n')).toEqual(['A', 'B']);
  });
});

describe('README and docs links', () => {
  it('resolve, each to a file of the project and, with #, to one of its headings', () => {
    const broken: string[] = [];
    for (const file of DOCS) {
      const text = readFileSync(join(ROOT, file), 'utf8');
      for (const link of relativeLinks(text)) {
        const [path = '', hash] = link.split('#');
        const target = path === '' ? join(ROOT, file) : join(ROOT, dirname(file), path);
        if (!existsSync(target)) broken.push(`${file}: ${link} (no file ${relative(ROOT, target)})`);
        else if (hash !== undefined && !anchorsOf(readFileSync(target, 'utf8')).has(hash)) broken.push(`${file}: ${link} (no heading #${hash})`);
      }
    }
    expect(broken).toEqual([]);
    expect(DOCS.length).toBeGreaterThanOrEqual(10);
  });

  it('finds the links and anchors it checks', () => {
    expect(relativeLinks('[a](docs/x.md#y) [b](https://example.com) `[c](z)`\n```\n[d](w)\n```\n')).toEqual(['docs/x.md#y', 'z']);
    expect([...anchorsOf('# Deploy\n## Deploy\n## Params\n')]).toEqual(['deploy', 'deploy-1', 'params']);
  });
});

describe('README as the front door', () => {
  it('stays at about 250 lines', () => {
    expect(README.split('\n').length).toBeLessThanOrEqual(260);
  });

  it("shows the quick start's answers as the handlers give them for the tutorial Pod", () => {
    const section = README.slice(README.indexOf('## Quick start'), README.indexOf('\n## ', README.indexOf('## Quick start') + 1));
    const [mutateAnswer, patch, validateAnswer] = [...section.matchAll(/```json\n([\s\S]*?)```/g)].map((match) => JSON.parse(match[1]!));
    const expected = (name: string) => JSON.parse(readFileSync(join(ROOT, 'events', `${name}.expected.json`), 'utf8')).body;
    const mutate = expected('mutate-tutorial-pod');
    expect({ ...mutateAnswer, response: { ...mutateAnswer.response, patch: JSON.parse(Buffer.from(mutateAnswer.response.patch, 'base64').toString('utf8')) } }).toEqual(mutate);
    expect(patch).toEqual(mutate.response.patch);
    expect(validateAnswer).toEqual(expected('validate-tutorial-pod'));
  });
});

describe('the README fleet policy example', () => {
  const section = README.slice(README.indexOf('## Fleet policy'), README.indexOf('\n## ', README.indexOf('## Fleet policy') + 1));
  const text = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? '';
  const check = checkPolicyText(text, 'README.md', Date.UTC(2026, 11, 4));

  it('is a valid policy', () => {
    expect(check.problems).toEqual([]);
  });

  it('does what the text after it says', () => {
    if (!check.policy || !check.version) throw new Error('invalid example');
    const fleet = createFleetPolicy(check.policy, check.version, loadConfig({}));
    expect(fleet.configFor('prod-eu', 'web')).toMatchObject({ validationAction: 'deny', requireDigest: true });
    expect(fleet.configFor('dev-us', 'web')).toMatchObject({ validationAction: 'warn', requireDigest: false });
    expect(fleet.configFor('dev-us', 'team-a-x').allowedRegistries).toEqual([{ host: 'registry.example.com', pathPrefix: 'team-a' }]);
    expect(fleet.configFor('prod-eu', 'team-a-x').allowedRegistries).toEqual([{ host: 'registry.example.com', pathPrefix: 'team-a' }]);
    expect(fleet.configFor('dev-us', 'debug-1').exceptions.map((exception) => [exception.name, exception.expires])).toEqual([['busybox-debug', '2027-06-30']]);
    expect(fleet.configFor('prod-eu', 'debug-1').exceptions).toEqual([]);
    expect(section).toContain('allowed by exception busybox-debug until\n2027-06-30');
  });
});

describe('.gitignore', () => {
  it('keeps out what the docs tell a user to make in the clone: packed tarballs, my-events/, certs/', () => {
    const ignored = readFileSync(join(ROOT, '.gitignore'), 'utf8').split('\n');
    for (const entry of ['*.tgz', '/my-events/', 'certs/']) expect(ignored).toContain(entry);
  });
});
