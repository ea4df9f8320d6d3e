/** Failures a service reports; the transport turns each into its HTTP status and `{error, message}`. */

export type ServiceErrorCode =
  | 'bad-request'
  | 'unauthorized'
  | 'forbidden'
  | 'not-found'
  | 'conflict'
  | 'precondition-failed'
  | 'unprocessable';

const STATUS: Record<ServiceErrorCode, number> = {
  'bad-request': 400,
  unauthorized: 401,
  forbidden: 403,
  'not-found': 404,
  conflict: 409,
  'precondition-failed': 412,
  unprocessable: 422,
};

export class ServiceError extends Error {
  readonly status: number;

  constructor(
    readonly code: ServiceErrorCode,
    message: string,
  ) {
    super(message);
    this.status = STATUS[code];
  }
}

export const notFound = (what: string): ServiceError => new ServiceError('not-found', `${what} not found`);
export const forbidden = (message: string): ServiceError => new ServiceError('forbidden', message);
export const conflict = (message: string): ServiceError => new ServiceError('conflict', message);
export const unprocessable = (message: string): ServiceError => new ServiceError('unprocessable', message);
export const stale = (what: string): ServiceError =>
  new ServiceError(
    'precondition-failed',
    `${what} was changed by someone else (If-Match does not match its ETag)`,
  );
