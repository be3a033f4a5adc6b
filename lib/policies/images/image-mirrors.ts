/**
 * Registry mirrors (`IMAGE_MIRRORS`): rules `source=target` that send the images of a registry
 * (or of a repository path prefix in it) through another, such as an ECR pull-through cache.
 * An image under a source becomes `target host / target prefix / rest of its repository path`,
 * with its tag and digest kept. The rules are refused at start-up when a target could itself be
 * rewritten again, so rewriting is idempotent by construction.
 */
import {
  type ImageReference,
  type RegistryRule,
  formatImageReference,
  formatRegistryRule,
  isUnderPath,
  parseImageReference,
  parseRegistryRule,
  ruleCovers,
} from './image-reference';

export interface MirrorRule {
  source: RegistryRule;
  target: RegistryRule;
}

/** Whether two rules of one host could cover the same repository: one prefix lies under the other. */
function overlap(a: RegistryRule, b: RegistryRule): boolean {
  return a.host === b.host && (isUnderPath(a.pathPrefix, b.pathPrefix) || isUnderPath(b.pathPrefix, a.pathPrefix));
}

function parseMirrorRule(entry: string): MirrorRule {
  const sides = entry.split('=');
  if (sides.length !== 2) throw new Error(`"${entry}", which is not of the form source=target (registry[/path]=registry[/path])`);
  const [source = '', target = ''] = sides.map((side) => side.trim());
  const parseSide = (side: string, name: string): RegistryRule => {
    try {
      return parseRegistryRule(side);
    } catch (error) {
      throw new Error(`"${entry}", whose ${name} ${(error as Error).message}`);
    }
  };
  return { source: parseSide(source, 'source'), target: parseSide(target, 'target') };
}

/**
 * Parses the comma-separated entries of IMAGE_MIRRORS (already split). Throws an Error naming the
 * entry: one not of the form `registry=registry`, a source listed twice, or a target that
 * overlaps any source (an image rewritten into it could fall under a source and be rewritten
 * again, and a second mutate pass would change it).
 */
export function parseMirrorRules(entries: readonly string[]): MirrorRule[] {
  const rules = entries.map(parseMirrorRule);
  rules.forEach((rule, index) => {
    const duplicate = rules.findIndex((other) => formatRegistryRule(other.source) === formatRegistryRule(rule.source));
    if (duplicate !== index) throw new Error(`source "${formatRegistryRule(rule.source)}" twice: give each source one target`);
    const source = rules.find((other) => overlap(rule.target, other.source));
    if (source) {
      throw new Error(
        `target "${formatRegistryRule(rule.target)}", which overlaps the source "${formatRegistryRule(source.source)}": ` +
          'an image mirrored there could be rewritten again',
      );
    }
  });
  return rules;
}

/** The rule whose source covers the image; the longest source prefix wins. */
function ruleFor(reference: ImageReference, rules: readonly MirrorRule[]): MirrorRule | undefined {
  let best: MirrorRule | undefined;
  for (const rule of rules) {
    if (!ruleCovers(rule.source, reference.registry, reference.repository)) continue;
    if (!best || rule.source.pathPrefix.length > best.source.pathPrefix.length) best = rule;
  }
  return best;
}

export interface MirroredImage {
  /** The image as the mirror serves it. */
  reference: ImageReference;
  /** The same, written out: what mutate puts into the Pod. */
  image: string;
  rule: MirrorRule;
}

/**
 * Where the rules send an image, or undefined when no source covers it. Also undefined when the
 * rewritten image would not parse back to exactly the intended repository (longer than the
 * runtime's limit, or a one-segment path into a bare `docker.io` target, which would gain
 * `library/`): such an image is left as written and judged as written.
 */
export function mirrorOf(reference: ImageReference, rules: readonly MirrorRule[]): MirroredImage | undefined {
  const rule = ruleFor(reference, rules);
  if (!rule) return undefined;
  const rest = rule.source.pathPrefix === '' ? reference.repository : reference.repository.slice(rule.source.pathPrefix.length + 1);
  const repository = [rule.target.pathPrefix, rest].filter((part) => part !== '').join('/');
  const intended: ImageReference = { ...reference, registry: rule.target.host, repository };
  const image = formatImageReference(intended);
  const parsed = parseImageReference(image);
  if (!parsed.ok || parsed.reference.registry !== intended.registry || parsed.reference.repository !== repository) return undefined;
  return { reference: parsed.reference, image, rule };
}

/** The image string mutate writes for `image`, or undefined to leave it as it is (unparseable, or not mirrored). */
export function mirroredImage(image: unknown, rules: readonly MirrorRule[]): string | undefined {
  if (rules.length === 0 || typeof image !== 'string') return undefined;
  const parsed = parseImageReference(image);
  return parsed.ok ? mirrorOf(parsed.reference, rules)?.image : undefined;
}
