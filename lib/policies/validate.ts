/**
 * The `validate` policy: every image of a Pod or a workload's pod template
 * must come from an allowed registry, and pass the tag and digest rules (the
 * chain of lib/policies/image-checks.ts). A Pod is judged as it arrives (mutate
 * has rewritten it for the mirrors already); a workload's template, which
 * mutate never rewrites, as the mirrors will rewrite the Pods made from it. On
 * UPDATE only images the old object did not already have are judged, so a
 * legacy object can still be relabelled.
 */
import type { AdmissionRequest } from '../admission/admission-review';
import type { Config } from './config';
import { type ImageRule, firstProblem } from './image-checks';
import { mirrorOf } from './image-mirrors';
import { formatRegistryRule, parseImageReference } from './image-reference';
import { type JsonObject, field, isObject } from '../common/json';
import { CONTAINER_LISTS, containersOf, imageVolumesOf, podSpecOf, podSpecPath } from './pod-spec';
import { pullPolicyProblem } from './pull-policy-check';
import { type Decision, allow, deny, requestKind, requestNamespace } from './decision';

/** Messages are cut near this length, with a count of what was left out. */
const MESSAGE_LIMIT = 1024;
/** The API server truncates longer warnings; it keeps at most a few of them. */
const WARNING_LIMIT = 119;
/** One container's description, cut so that an absurd image string cannot fill the message. */
const PART_LIMIT = 300;
const MAX_WARNINGS = 10;

function truncate(text: string, limit: number): string {
  return text.length <= limit ? text : `${text.slice(0, limit - 3)}...`;
}

/** Every image a pod spec pulls, with who pulls it: its containers and its image volumes. */
function imageUsers(spec: JsonObject | undefined): { who: string; image: unknown }[] {
  return [
    ...containersOf(spec).map(({ label, name, container }) => ({ who: `${label} "${name}"`, image: container.image })),
    ...imageVolumesOf(spec).map(({ name, source }) => ({ who: `image volume "${name}"`, image: source.reference })),
  ];
}

function imagesOf(spec: JsonObject | undefined): Set<unknown> {
  return new Set(imageUsers(spec).map((user) => user.image));
}

/** Describes container lists that are not arrays of objects; the API server never sends these. */
function malformedLists(spec: JsonObject): string[] {
  return CONTAINER_LISTS.flatMap(({ field: listField }) => {
    const list = field(spec, listField);
    if (list === undefined || list === null) return [];
    if (!Array.isArray(list)) return [`${listField} must be a list`];
    return list.some((item) => !isObject(item)) ? [`${listField} must contain only objects`] : [];
  });
}

/** One image that breaks a rule: the rule, and the description the message gives. */
interface Finding {
  rule: ImageRule;
  part: string;
}

/** What is wrong with one image, if anything; `mirrored`: judge it as the mirrors would rewrite it. */
function findingFor(who: string, image: unknown, config: Config, mirrored: boolean): Finding | undefined {
  if (typeof image !== 'string') {
    return { rule: 'registry', part: image === undefined || image === null ? `${who} has no image` : `${who} has an image that is not a string` };
  }
  const uses = `${who} uses ${JSON.stringify(image)}`;
  const parsed = parseImageReference(image);
  if (!parsed.ok) return { rule: 'registry', part: `${uses} (${parsed.reason})` };
  const mirror = mirrored ? mirrorOf(parsed.reference, config.imageMirrors) : undefined;
  const problem = firstProblem(mirror?.reference ?? parsed.reference, config);
  if (!problem) return undefined;
  const details = [problem.rule === 'registry' && mirror ? `mirrored to ${mirror.image}` : undefined, problem.detail];
  // ", and": "; " separates the images in the message.
  const detail = details.filter((text) => text !== undefined).join(', and ');
  return { rule: problem.rule, part: detail === '' ? uses : `${uses} (${detail})` };
}

/** One finding per container or image volume whose image breaks a rule. */
function findingsOf(spec: JsonObject, oldImages: ReadonlySet<unknown>, config: Config, mirrored: boolean): Finding[] {
  return imageUsers(spec).flatMap(({ who, image }) => {
    if (oldImages.has(image)) return [];
    const finding = findingFor(who, image, config, mirrored);
    return finding ? [finding] : [];
  });
}

/**
 * The sentence the message starts with: the tutorial's, naming the allowed registries, when any
 * image breaks the registry rule (or does not parse); else the digest rule, or the tag rule (with
 * REQUIRE_DIGEST, every image the tag rule judges has already failed the digest rule).
 */
function sentenceFor(findings: readonly Finding[], config: Config): string {
  const broke = (rule: ImageRule) => findings.some((finding) => finding.rule === rule);
  if (broke('registry')) return `Invalid image. Images must come from ${config.allowedRegistries.map(formatRegistryRule).join(', ')}`;
  if (broke('digest')) return 'Invalid image. Images must be pinned by digest';
  const tags = [...config.disallowedTags];
  return `Invalid image. Images must not use the tag${tags.length === 1 ? '' : 's'} ${tags.join(', ')}`;
}

/** Joins the parts with "; " until the text would pass `limit`, then counts the rest. */
function joinBounded(parts: readonly string[], limit: number): string {
  const [first = '', ...rest] = parts.map((part) => truncate(part, PART_LIMIT));
  let text = first;
  for (const [index, part] of rest.entries()) {
    const next = `${text}; ${part}`;
    if (next.length > limit) return `${text}; and ${rest.length - index} more`;
    text = next;
  }
  return text;
}

function warningsFor(sentence: string, found: readonly string[]): string[] {
  const room = MAX_WARNINGS - 1;
  const shown = found.length <= room ? found : found.slice(0, room - 1);
  const warnings = [sentence, ...shown].map((text) => truncate(text, WARNING_LIMIT));
  if (shown.length < found.length) warnings.push(`and ${found.length - shown.length} more images not allowed`);
  return warnings;
}

export function validateImages(request: AdmissionRequest, config: Config): Decision {
  if (request.operation !== 'CREATE' && request.operation !== 'UPDATE') return allow();
  const namespace = requestNamespace(request);
  if (namespace !== undefined && config.exemptNamespaces.has(namespace)) return allow();
  const { group, kind } = requestKind(request);
  const path = podSpecPath(group, kind);
  if (!path) return allow();
  const isPod = group === '' && kind === 'Pod';
  if (request.subResource && !(isPod && request.subResource === 'ephemeralcontainers')) return allow();

  if (!isObject(request.object)) return deny(`request.object is missing: there is no ${kind} to check`);
  const spec = podSpecOf(request.object, path);
  if (!spec) return allow();
  const malformed = malformedLists(spec);
  if (malformed.length > 0) return deny(`Invalid ${kind}: ${malformed.map((problem) => `${path.join('.')}.${problem}`).join('; ')}`);
  const pullPolicy = pullPolicyProblem(request, config);
  if (pullPolicy) return deny(pullPolicy);

  const oldImages = request.operation === 'UPDATE' ? imagesOf(podSpecOf(request.oldObject, path)) : new Set<unknown>();
  const findings = findingsOf(spec, oldImages, config, !isPod);
  if (findings.length === 0) return allow();

  const sentence = sentenceFor(findings, config);
  const found = findings.map((finding) => finding.part);
  const message = `${sentence}: ${joinBounded(found, MESSAGE_LIMIT)}`;
  switch (config.validationAction) {
    case 'deny':
      return deny(message);
    case 'warn':
      return { allowed: true, warnings: warningsFor(sentence, found), violation: message };
    case 'audit':
      return { allowed: true, violation: message };
  }
}
