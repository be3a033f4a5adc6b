/**
 * Enforce mode on a Pod UPDATE, as the upstream AlwaysPullImages admission plugin judges it. An
 * update can give a running Pod's container a new image (`kubectl set image pod/...`), but not a
 * new pull policy: `mutate` cannot make it `Always` then. A new image in a container without
 * `imagePullPolicy: Always` would start from whatever copy is on the node, another tenant's
 * private image included, so `validate` refuses the update (whatever VALIDATION_ACTION says, as
 * `mutate` enforces `Always` whatever it says). Images the old Pod already had are not judged.
 */
import type { AdmissionRequest } from '../../admission/admission-review';
import type { Config } from '../fleet/config';
import { requestKind } from '../decision';
import { containersOf, podSpecOf } from '../pod-spec';

/** Containers named in the message; the rest are counted. */
const NAMED = 5;
/** A container name is a DNS label (63 characters) in any Pod the API server accepted. */
const NAME_LIMIT = 63;

/** Why validate refuses this request in enforce mode, or undefined: only a Pod UPDATE can be refused here. */
export function pullPolicyProblem(request: AdmissionRequest, config: Config): string | undefined {
  if (config.imagePullPolicyMode !== 'enforce' || request.operation !== 'UPDATE' || request.subResource) return undefined;
  const { group, kind } = requestKind(request);
  if (group !== '' || kind !== 'Pod') return undefined;
  const oldImages = new Set(containersOf(podSpecOf(request.oldObject, ['spec'])).map(({ container }) => container.image));
  const offending = containersOf(podSpecOf(request.object, ['spec'])).filter(
    ({ container }) => !oldImages.has(container.image) && container.imagePullPolicy !== 'Always',
  );
  if (offending.length === 0) return undefined;
  const parts = offending.slice(0, NAMED).map(({ label, name, container }) => {
    const policy = typeof container.imagePullPolicy === 'string' && container.imagePullPolicy !== '' ? container.imagePullPolicy : 'unset';
    return `${label} ${JSON.stringify(name.slice(0, NAME_LIMIT))} (imagePullPolicy ${JSON.stringify(policy.slice(0, NAME_LIMIT))})`;
  });
  if (offending.length > NAMED) parts.push(`and ${offending.length - NAMED} more`);
  return (
    'Invalid Pod update. In enforce mode a container that gets a new image must have imagePullPolicy Always, ' +
    `and a running Pod's pull policy cannot change; recreate the Pod with the new image instead: ${parts.join('; ')}`
  );
}
