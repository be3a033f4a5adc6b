/**
 * Policy exceptions: named, expiring permissions for images that validate's registry, tag and
 * digest rules would refuse. An image under an active exception is not judged. Expiry is judged
 * at review time (a date in UTC, through the end of that day), so no deploy is needed for an
 * exception to end.
 */
import { type ImageReference, type RegistryRule, isAllowedImage, isUnderPath } from '../images/image-reference';
import type { MirrorRule } from '../images/image-mirrors';

export interface PolicyException {
  name: string;
  /** `YYYY-MM-DD`, as written. */
  expires: string;
  /** The first millisecond after the expiry day, UTC. */
  endsAt: number;
  /** The image rules as written, and as the cluster's mirrors rewrite them. */
  images: RegistryRule[];
}

/** `YYYY-MM-DD` to the first millisecond of the next day, UTC; undefined for anything that is not a real date. */
export function endOfDay(date: string): number | undefined {
  const match = /^(\d{4})-(\d{2})-(\d{2})$/.exec(date);
  if (!match) return undefined;
  const [year, month, day] = [Number(match[1]), Number(match[2]), Number(match[3])];
  const start = Date.UTC(year, month - 1, day);
  const parsed = new Date(start);
  if (parsed.getUTCFullYear() !== year || parsed.getUTCMonth() !== month - 1 || parsed.getUTCDate() !== day) return undefined;
  return Date.UTC(year, month - 1, day + 1);
}

/**
 * A rule as the mirrors rewrite the images under it (the longest source that covers the rule's
 * whole path wins, as for images), or undefined where no source covers it.
 */
function mirroredRule(rule: RegistryRule, mirrors: readonly MirrorRule[]): RegistryRule | undefined {
  let best: MirrorRule | undefined;
  for (const mirror of mirrors) {
    if (mirror.source.host !== rule.host || !isUnderPath(rule.pathPrefix, mirror.source.pathPrefix)) continue;
    if (!best || mirror.source.pathPrefix.length > best.source.pathPrefix.length) best = mirror;
  }
  if (!best) return undefined;
  const rest = best.source.pathPrefix === '' ? rule.pathPrefix : rule.pathPrefix.slice(best.source.pathPrefix.length + 1);
  return { host: best.target.host, pathPrefix: [best.target.pathPrefix, rest].filter((part) => part !== '').join('/') };
}

/** The rules and their mirrored forms, so an exception also matches an image mutate has rewritten. */
export function withMirroredRules(rules: readonly RegistryRule[], mirrors: readonly MirrorRule[]): RegistryRule[] {
  return [...rules, ...rules.flatMap((rule) => mirroredRule(rule, mirrors) ?? [])];
}

/** The first exception active at `now` whose rules cover any of the image's forms. */
export function exceptionFor(
  forms: readonly ImageReference[],
  exceptions: readonly PolicyException[],
  now: number,
): PolicyException | undefined {
  return exceptions.find((exception) => now < exception.endsAt && forms.some((form) => isAllowedImage(form, exception.images)));
}

/** The warning a review let through by an exception carries. */
export const exceptionWarning = (exception: PolicyException): string => `allowed by exception ${exception.name} until ${exception.expires}`;
