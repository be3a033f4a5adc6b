/**
 * The floor a handler is compared with: parse the event body with JSON.parse
 * and serialise a response with JSON.stringify, nothing else.
 */
import type { GatewayEvent, GatewayResult } from '../lib/transport/http';

export async function floorHandler(event: GatewayEvent): Promise<GatewayResult> {
  const review = JSON.parse(event.body ?? '');
  const body = JSON.stringify({
    apiVersion: review.apiVersion,
    kind: 'AdmissionReview',
    response: { uid: review.request.uid, allowed: true },
  });
  return { statusCode: 200, headers: { 'content-type': 'application/json' }, body };
}
