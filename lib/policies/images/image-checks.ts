/**
 * The rules `validate` applies to each image, as small pure checks chained the way
 * kubewebhook chains validators: they run in order and the first problem ends the chain, so an
 * image is reported once, for the rule that matters most. The registry comes first; the digest
 * rule before the tag rule, because pinning a digest settles both (a pinned image is not judged
 * by its tag: the runtime pulls the digest and ignores the tag).
 */
import type { Config } from '../fleet/config';
import { type ImageReference, isAllowedImage, nearMissReason } from './image-reference';

export type ImageRule = 'registry' | 'digest' | 'tag';

export interface ImageProblem {
  rule: ImageRule;
  /** A short reason for the message, e.g. `tag "latest" is not allowed`; none where the rule says it all. */
  detail?: string;
}

export type ImageCheck = (reference: ImageReference, config: Config) => ImageProblem | undefined;

/** The tag an image without tag and digest is pulled with. */
export const DEFAULT_TAG = 'latest';

export const registryCheck: ImageCheck = (reference, config) => {
  if (isAllowedImage(reference, config.allowedRegistries)) return undefined;
  const detail = nearMissReason(reference, config.allowedRegistries);
  return detail === undefined ? { rule: 'registry' } : { rule: 'registry', detail };
};

export const digestCheck: ImageCheck = (reference, config) =>
  config.requireDigest && reference.digest === undefined ? { rule: 'digest', detail: 'not pinned by digest' } : undefined;

export const tagCheck: ImageCheck = (reference, config) => {
  if (reference.digest !== undefined) return undefined;
  const tag = reference.tag ?? DEFAULT_TAG;
  if (!config.disallowedTags.has(tag)) return undefined;
  return { rule: 'tag', detail: reference.tag === undefined ? `no tag means "${DEFAULT_TAG}", which is not allowed` : `tag "${tag}" is not allowed` };
};

export const IMAGE_CHECKS: readonly ImageCheck[] = [registryCheck, digestCheck, tagCheck];

/** The first problem the chain finds with the image, or undefined when every check passes. */
export function firstProblem(reference: ImageReference, config: Config): ImageProblem | undefined {
  for (const check of IMAGE_CHECKS) {
    const problem = check(reference, config);
    if (problem) return problem;
  }
  return undefined;
}
