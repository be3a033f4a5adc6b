import { describe, expect, it } from 'vitest';
import { handler as mutate } from '../functions/mutate';
import { handler as validate } from '../functions/validate';
import { decodedPatch, podRequest, restEvent, review, tutorialPod } from './support/reviews';

describe('the tutorial Pod', () => {
  it('is given imagePullPolicy Always and the registry-credentials pull secret', async () => {
    const result = await mutate(restEvent(review(podRequest(tutorialPod()))));
    expect(result.statusCode).toBe(200);
    const body = JSON.parse(result.body);
    expect(body).toMatchObject({
      apiVersion: 'admission.k8s.io/v1',
      kind: 'AdmissionReview',
      response: { uid: '705ab4f5-6393-11e8-b7cc-42010a800002', allowed: true, patchType: 'JSONPatch' },
    });
    expect(decodedPatch(result.body)).toEqual([
      { op: 'add', path: '/spec/containers/0/imagePullPolicy', value: 'Always' },
      { op: 'add', path: '/spec/imagePullSecrets', value: [{ name: 'registry-credentials' }] },
    ]);
  });

  it('is denied by validate with the tutorial sentence, container and image', async () => {
    const result = await validate(restEvent(review(podRequest(tutorialPod()))));
    expect(result.statusCode).toBe(200);
    expect(JSON.parse(result.body).response).toEqual({
      uid: '705ab4f5-6393-11e8-b7cc-42010a800002',
      allowed: false,
      status: {
        code: 403,
        message: 'Invalid image. Images must come from registry.example.com: container "python" uses "python:3.9-slim"',
      },
    });
  });
});
