/**
 * Kubernetes `Status` objects for error responses. kubectl prints a Status
 * body's message to the user; a bare body would show up as "unknown".
 */
export interface KubernetesStatus {
  kind: 'Status';
  apiVersion: 'v1';
  status: 'Failure';
  code: number;
  reason?: string;
  message: string;
}

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  403: 'Forbidden',
  405: 'MethodNotAllowed',
  413: 'RequestEntityTooLarge',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

export function failureStatus(code: number, message: string): KubernetesStatus {
  const reason = REASONS[code];
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, ...(reason ? { reason } : {}), message };
}

/** An error that maps to one HTTP status code of the contract. */
export class HttpError extends Error {
  constructor(
    readonly statusCode: number,
    message: string,
  ) {
    super(message);
    this.name = 'HttpError';
  }
}

export const badRequest = (message: string): HttpError => new HttpError(400, message);
