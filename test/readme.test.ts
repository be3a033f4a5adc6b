/**
 * README.md's table of contents (the list under **Contents**) names every `##` heading, in order,
 * with the anchor GitHub gives it, and nothing else: a section added, renamed or moved without
 * its entry fails here.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const README = readFileSync(join(import.meta.dirname, '..', 'README.md'), 'utf8');

/** GitHub's heading anchor: lower case, punctuation (backticks included) dropped, spaces as hyphens. */
function anchor(heading: string): string {
  return heading
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/ /g, '-');
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
