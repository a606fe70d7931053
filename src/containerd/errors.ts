import { status as Status, type ServiceError } from '@grpc/grpc-js';

/** Error classes mirroring containerd's errdefs, so callers branch on kind, not on message text. */
export class ContainerdError extends Error {
  constructor(
    message: string,
    readonly code: number,
    readonly rpc: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
export class NotFoundError extends ContainerdError {}
export class AlreadyExistsError extends ContainerdError {}
export class InvalidArgumentError extends ContainerdError {}
export class FailedPreconditionError extends ContainerdError {}
export class UnavailableError extends ContainerdError {}
export class NotImplementedError extends ContainerdError {}
export class CancelledError extends ContainerdError {}
export class DeadlineExceededError extends ContainerdError {}
export class OutOfRangeError extends ContainerdError {}
export class UnknownError extends ContainerdError {}

const BY_CODE: Record<number, new (m: string, c: number, r: string) => ContainerdError> = {
  [Status.NOT_FOUND]: NotFoundError,
  [Status.ALREADY_EXISTS]: AlreadyExistsError,
  [Status.INVALID_ARGUMENT]: InvalidArgumentError,
  [Status.FAILED_PRECONDITION]: FailedPreconditionError,
  [Status.UNAVAILABLE]: UnavailableError,
  [Status.UNIMPLEMENTED]: NotImplementedError,
  [Status.CANCELLED]: CancelledError,
  [Status.DEADLINE_EXCEEDED]: DeadlineExceededError,
  [Status.OUT_OF_RANGE]: OutOfRangeError,
};

function isServiceError(err: unknown): err is ServiceError {
  return typeof err === 'object' && err !== null && typeof (err as ServiceError).code === 'number';
}

/** Map a grpc-js error to a typed containerd error naming the RPC that failed. */
export function mapGrpcError(err: unknown, rpc: string): Error {
  if (err instanceof ContainerdError) return err;
  if (!isServiceError(err)) return err instanceof Error ? err : new Error(String(err));
  const Ctor = BY_CODE[err.code] ?? UnknownError;
  return new Ctor(`${rpc}: ${err.details || err.message}`, err.code, rpc);
}

export const isNotFound = (e: unknown): boolean => e instanceof NotFoundError;
export const isAlreadyExists = (e: unknown): boolean => e instanceof AlreadyExistsError;
export const isUnavailable = (e: unknown): boolean => e instanceof UnavailableError;
