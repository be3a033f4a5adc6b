/**
 * The `validate` policy: every image of a Pod or a workload's pod template
 * must come from an allowed registry, and pass the tag and digest rules (the
 * chain of lib/policies/images/image-checks.ts). A Pod is judged as it arrives (mutate
 * has rewritten it for the mirrors already); a workload's template, which
 * mutate never rewrites, as the mirrors will rewrite the Pods made from it. On
 * UPDATE only images the old object did not already have are judged, so a
 * legacy object can still be relabelled.
 */
import type { AdmissionRequest } from '../admission/admission-review';
import type { Config } from './fleet/config';
import { type ImageRule, firstProblem } from './images/image-checks';
import { type PolicyException, exceptionFor, exceptionWarning } from './fleet/exceptions';
import { mirrorOf } from './images/image-mirrors';
import { formatRegistryRule, parseImageReference } from './images/image-reference';
import { type JsonObject, field, isObject } from '../common/json';
import { CONTAINER_LISTS, containersOf, imageVolumesOf, podSpecOf, podSpecPath } from './pod-spec';
import { pullPolicyProblem } from './images/pull-policy-check';
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

/** What is wrong with one image, if anything, or the exception that lets it through. */
type Judgement = { finding: Finding } | { exception: PolicyException } | undefined;

/** Judges one image; `mirrored`: judge it as the mirrors would rewrite it. */
function judge(who: string, image: unknown, config: Config, mirrored: boolean, now: number): Judgement {
  if (typeof image !== 'string') {
    return { finding: { rule: 'registry', part: image === undefined || image === null ? `${who} has no image` : `${who} has an image that is not a string` } };
  }
  const uses = `${who} uses ${JSON.stringify(image)}`;
  const parsed = parseImageReference(image);
  if (!parsed.ok) return { finding: { rule: 'registry', part: `${uses} (${parsed.reason})` } };
  const mirror = mirrored || config.exceptions.length > 0 ? mirrorOf(parsed.reference, config.imageMirrors) : undefined;
  if (config.exceptions.length > 0) {
    // An exception matches the image as written and as the cluster's mirrors rewrite it.
    const exception = exceptionFor(mirror ? [parsed.reference, mirror.reference] : [parsed.reference], config.exceptions, now);
    if (exception) return { exception };
  }
  const judged = mirrored ? mirror : undefined;
  const problem = firstProblem(judged?.reference ?? parsed.reference, config);
  if (!problem) return undefined;
  const details = [problem.rule === 'registry' && judged ? `mirrored to ${judged.image}` : undefined, problem.detail];
  // ", and": "; " separates the images in the message.
  const detail = details.filter((text) => text !== undefined).join(', and ');
  return { finding: { rule: problem.rule, part: detail === '' ? uses : `${uses} (${detail})` } };
}

/** One finding per container or image volume whose image breaks a rule, and the exceptions that let images through. */
function judgeAll(spec: JsonObject, oldImages: ReadonlySet<unknown>, config: Config, mirrored: boolean, now: number) {
  const findings: Finding[] = [];
  const exceptions = new Map<string, PolicyException>();
  for (const { who, image } of imageUsers(spec)) {
    if (oldImages.has(image)) continue;
    const judgement = judge(who, image, config, mirrored, now);
    if (judgement && 'finding' in judgement) findings.push(judgement.finding);
    else if (judgement) exceptions.set(judgement.exception.name, judgement.exception);
  }
  return { findings, exceptions: [...exceptions.values()] };
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

/** The warnings of a violation in warn mode, after `leading` ones (the exceptions used), at most MAX_WARNINGS in all. */
function warningsFor(sentence: string, found: readonly string[], leading: readonly string[]): string[] {
  const room = MAX_WARNINGS - 1 - leading.length;
  const shown = found.length <= room ? found : found.slice(0, room - 1);
  const warnings = [...leading, sentence, ...shown].map((text) => truncate(text, WARNING_LIMIT));
  if (shown.length < found.length) warnings.push(`and ${found.length - shown.length} more images not allowed`);
  return warnings;
}

export function validateImages(request: AdmissionRequest, config: Config, now: number = Date.now()): Decision {
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
  const { findings, exceptions } = judgeAll(spec, oldImages, config, !isPod, now);
  if (exceptions.length === 0) return decisionFor(findings, config, NO_WARNINGS);
  // The exceptions used are named in warnings (first) and in the decision, for the review's log line.
  const decision = decisionFor(findings, config, exceptions.slice(0, MAX_WARNINGS - 2).map(exceptionWarning));
  return { ...decision, exceptions: exceptions.map((exception) => exception.name) };
}

const NO_WARNINGS: readonly string[] = [];

/** The decision on the images' findings, with `leading` warnings (the exceptions used) before any of a violation. */
function decisionFor(findings: readonly Finding[], config: Config, leading: readonly string[]): Decision {
  if (findings.length === 0) return leading.length > 0 ? { allowed: true, warnings: [...leading] } : allow();
  const sentence = sentenceFor(findings, config);
  const found = findings.map((finding) => finding.part);
  const message = `${sentence}: ${joinBounded(found, MESSAGE_LIMIT)}`;
  switch (config.validationAction) {
    case 'deny':
      return deny(message);
    case 'warn':
      return { allowed: true, warnings: warningsFor(sentence, found, leading), violation: message };
    case 'audit':
      return leading.length > 0 ? { allowed: true, violation: message, warnings: [...leading] } : { allowed: true, violation: message };
  }
}
