/**
 * What a policy decides about one admission request. Policies are pure
 * functions of the request and the configuration; they never see HTTP.
 */
import type { AdmissionRequest } from '../admission/admission-review';
import type { Operation } from './json-patch';
import { field, fieldAt } from '../common/json';

export type Decision =
  | {
      allowed: true;
      patch?: Operation[];
      warnings?: string[];
      /** Why the request would have been denied, in `warn` and `audit` mode. */
      violation?: string;
      /** The policy exceptions that let images through, by name. */
      exceptions?: string[];
    }
  | { allowed: false; message: string; exceptions?: string[] };

export const allow = (): Decision => ({ allowed: true });

export const deny = (message: string): Decision => ({ allowed: false, message });

/**
 * The request's namespace. Use `request.namespace`: some API server versions
 * send a new Pod without `metadata.namespace`.
 */
export function requestNamespace(request: AdmissionRequest): string | undefined {
  if (request.namespace) return request.namespace;
  const fromObject = fieldAt(request.object, ['metadata', 'namespace']);
  return typeof fromObject === 'string' && fromObject !== '' ? fromObject : undefined;
}

/** API group and kind of the request's object; from the object itself if the request lacks `kind`. */
export function requestKind(request: AdmissionRequest): { group: string; kind: string } {
  if (request.kind?.kind) return { group: request.kind.group ?? '', kind: request.kind.kind };
  const apiVersion = field(request.object, 'apiVersion');
  const kind = field(request.object, 'kind');
  const group = typeof apiVersion === 'string' && apiVersion.includes('/') ? apiVersion.split('/')[0] ?? '' : '';
  return { group, kind: typeof kind === 'string' ? kind : '' };
}
