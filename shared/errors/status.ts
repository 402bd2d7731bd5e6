/**
 * The one mapping between cocolet error codes and gRPC / ttrpc status codes (google.rpc.Code).
 * Both directions live here; no other module translates codes.
 */
import { CocoletError, ErrorCode, type ErrorCodeValue } from './errors.js';

/** google.rpc.Code values. */
export const StatusCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

export type StatusCodeValue = (typeof StatusCode)[keyof typeof StatusCode];

const toStatus: Record<ErrorCodeValue, StatusCodeValue> = {
  [ErrorCode.Internal]: StatusCode.INTERNAL,
  [ErrorCode.InvalidArgument]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.NotFound]: StatusCode.NOT_FOUND,
  [ErrorCode.AlreadyExists]: StatusCode.ALREADY_EXISTS,
  [ErrorCode.FailedPrecondition]: StatusCode.FAILED_PRECONDITION,
  [ErrorCode.Unimplemented]: StatusCode.UNIMPLEMENTED,
  [ErrorCode.Unavailable]: StatusCode.UNAVAILABLE,
  [ErrorCode.DeadlineExceeded]: StatusCode.DEADLINE_EXCEEDED,
  [ErrorCode.Cancelled]: StatusCode.CANCELLED,
  [ErrorCode.ResourceExhausted]: StatusCode.RESOURCE_EXHAUSTED,
  [ErrorCode.PermissionDenied]: StatusCode.PERMISSION_DENIED,
  [ErrorCode.Unauthenticated]: StatusCode.UNAUTHENTICATED,
  [ErrorCode.Aborted]: StatusCode.ABORTED,
  [ErrorCode.OutOfRange]: StatusCode.OUT_OF_RANGE,
  [ErrorCode.DataLoss]: StatusCode.DATA_LOSS,
  [ErrorCode.ConfigInvalid]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.ManifestInvalid]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.CheckpointCorrupt]: StatusCode.DATA_LOSS,
  [ErrorCode.FrameInvalid]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.FrameTooLarge]: StatusCode.RESOURCE_EXHAUSTED,
  [ErrorCode.ProtobufInvalid]: StatusCode.INTERNAL,
  [ErrorCode.ConnectionClosed]: StatusCode.UNAVAILABLE,
  [ErrorCode.PolicyDenied]: StatusCode.PERMISSION_DENIED,
  [ErrorCode.PolicyInvalid]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.EvidenceMalformed]: StatusCode.INVALID_ARGUMENT,
  [ErrorCode.EvidenceSignature]: StatusCode.UNAUTHENTICATED,
  [ErrorCode.EvidenceCertificate]: StatusCode.UNAUTHENTICATED,
  [ErrorCode.EvidenceClaim]: StatusCode.PERMISSION_DENIED,
  [ErrorCode.RuntimeFailed]: StatusCode.INTERNAL,
  [ErrorCode.VmFailed]: StatusCode.UNAVAILABLE,
};

const fromStatus: Record<number, ErrorCodeValue> = {
  [StatusCode.CANCELLED]: ErrorCode.Cancelled,
  [StatusCode.UNKNOWN]: ErrorCode.Internal,
  [StatusCode.INVALID_ARGUMENT]: ErrorCode.InvalidArgument,
  [StatusCode.DEADLINE_EXCEEDED]: ErrorCode.DeadlineExceeded,
  [StatusCode.NOT_FOUND]: ErrorCode.NotFound,
  [StatusCode.ALREADY_EXISTS]: ErrorCode.AlreadyExists,
  [StatusCode.PERMISSION_DENIED]: ErrorCode.PermissionDenied,
  [StatusCode.RESOURCE_EXHAUSTED]: ErrorCode.ResourceExhausted,
  [StatusCode.FAILED_PRECONDITION]: ErrorCode.FailedPrecondition,
  [StatusCode.ABORTED]: ErrorCode.Aborted,
  [StatusCode.OUT_OF_RANGE]: ErrorCode.OutOfRange,
  [StatusCode.UNIMPLEMENTED]: ErrorCode.Unimplemented,
  [StatusCode.INTERNAL]: ErrorCode.Internal,
  [StatusCode.UNAVAILABLE]: ErrorCode.Unavailable,
  [StatusCode.DATA_LOSS]: ErrorCode.DataLoss,
  [StatusCode.UNAUTHENTICATED]: ErrorCode.Unauthenticated,
};

/** Status code for any thrown value; non-cocolet errors map the way Go ttrpc's convertCode does. */
export function statusCodeOf(e: unknown): StatusCodeValue {
  if (e instanceof CocoletError) return toStatus[e.code];
  if (e instanceof Error) {
    if (e.name === 'AbortError') return StatusCode.CANCELLED;
    if (e.name === 'TimeoutError') return StatusCode.DEADLINE_EXCEEDED;
    const errno = (e as NodeJS.ErrnoException).code;
    if (errno === 'ENOENT') return StatusCode.NOT_FOUND;
    if (errno === 'EEXIST') return StatusCode.ALREADY_EXISTS;
    if (errno === 'EACCES' || errno === 'EPERM') return StatusCode.PERMISSION_DENIED;
  }
  return StatusCode.UNKNOWN;
}

/** The error a client raises for a non-OK status received from a peer. */
export function errorFromStatus(code: number, message: string, context?: Record<string, string>): CocoletError {
  const mapped = fromStatus[code] ?? ErrorCode.Internal;
  const opts = context ? { context: { ...context, status: code } } : { context: { status: code } };
  return new CocoletError(mapped, message, opts);
}
