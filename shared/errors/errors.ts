/**
 * The project's one error base class. Every failure that crosses a module boundary is a
 * CocoletError with a stable string `code` (tests assert on codes, never on message text) and
 * context fields naming what it was about (pod, container, sandbox, rpc, ...).
 *
 * Messages and context must never carry secret material: callers put identifiers in context,
 * never payloads, keys or tokens.
 */

/** Stable error codes. Adding one is an API change: keep the list sorted by area. */
export const ErrorCode = {
  // generic
  Internal: 'COCOLET_INTERNAL',
  InvalidArgument: 'COCOLET_INVALID_ARGUMENT',
  NotFound: 'COCOLET_NOT_FOUND',
  AlreadyExists: 'COCOLET_ALREADY_EXISTS',
  FailedPrecondition: 'COCOLET_FAILED_PRECONDITION',
  Unimplemented: 'COCOLET_UNIMPLEMENTED',
  Unavailable: 'COCOLET_UNAVAILABLE',
  DeadlineExceeded: 'COCOLET_DEADLINE_EXCEEDED',
  Cancelled: 'COCOLET_CANCELLED',
  ResourceExhausted: 'COCOLET_RESOURCE_EXHAUSTED',
  PermissionDenied: 'COCOLET_PERMISSION_DENIED',
  Unauthenticated: 'COCOLET_UNAUTHENTICATED',
  Aborted: 'COCOLET_ABORTED',
  OutOfRange: 'COCOLET_OUT_OF_RANGE',
  DataLoss: 'COCOLET_DATA_LOSS',
  // configuration and manifests
  ConfigInvalid: 'COCOLET_CONFIG_INVALID',
  ManifestInvalid: 'COCOLET_MANIFEST_INVALID',
  CheckpointCorrupt: 'COCOLET_CHECKPOINT_CORRUPT',
  // wire protocols
  FrameInvalid: 'COCOLET_FRAME_INVALID',
  FrameTooLarge: 'COCOLET_FRAME_TOO_LARGE',
  ProtobufInvalid: 'COCOLET_PROTOBUF_INVALID',
  ConnectionClosed: 'COCOLET_CONNECTION_CLOSED',
  // guest policy
  PolicyDenied: 'COCOLET_POLICY_DENIED',
  PolicyInvalid: 'COCOLET_POLICY_INVALID',
  // attestation
  EvidenceMalformed: 'COCOLET_EVIDENCE_MALFORMED',
  EvidenceSignature: 'COCOLET_EVIDENCE_SIGNATURE',
  EvidenceCertificate: 'COCOLET_EVIDENCE_CERTIFICATE',
  EvidenceClaim: 'COCOLET_EVIDENCE_CLAIM',
  // runtime
  RuntimeFailed: 'COCOLET_RUNTIME_FAILED',
  VmFailed: 'COCOLET_VM_FAILED',
} as const;

export type ErrorCodeValue = (typeof ErrorCode)[keyof typeof ErrorCode];

/** Identifiers that say what an error was about. Never secrets. */
export interface ErrorContext {
  pod?: string;
  container?: string;
  sandbox?: string;
  rpc?: string;
  [key: string]: string | number | boolean | undefined;
}

export interface CocoletErrorOptions {
  cause?: unknown;
  context?: ErrorContext;
}

export class CocoletError extends Error {
  readonly code: ErrorCodeValue;
  readonly context: ErrorContext;

  constructor(code: ErrorCodeValue, message: string, options: CocoletErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'CocoletError';
    this.code = code;
    this.context = options.context ?? {};
  }

  /** A copy of this error with more context; existing keys win over the added ones. */
  withContext(extra: ErrorContext): CocoletError {
    const e = new CocoletError(this.code, this.message, { cause: this.cause, context: { ...extra, ...this.context } });
    e.stack = this.stack;
    return e;
  }

  toJSON(): { code: string; message: string; context: ErrorContext } {
    return { code: this.code, message: this.message, context: this.context };
  }
}

export function isCocoletError(e: unknown, code?: ErrorCodeValue): e is CocoletError {
  return e instanceof CocoletError && (code === undefined || e.code === code);
}

/** Wraps anything thrown into a CocoletError, keeping an existing code. */
export function toCocoletError(e: unknown, fallback: ErrorCodeValue = ErrorCode.Internal, context?: ErrorContext): CocoletError {
  if (e instanceof CocoletError) return context ? e.withContext(context) : e;
  const message = e instanceof Error ? e.message : String(e);
  const opts: CocoletErrorOptions = { cause: e };
  if (context) opts.context = context;
  return new CocoletError(fallback, message, opts);
}
