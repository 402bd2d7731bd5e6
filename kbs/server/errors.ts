/**
 * Every refusal the broker answers: the trustee error kind (the body's `type`), a precise,
 * non-secret `detail` for the client, the HTTP status trustee uses for that kind, and, for the
 * log only, the full reason (which may name internal state, never secrets).
 */
import { errorType, KbsErrorKind, type ErrorInformation, type KbsErrorKindValue } from '../../shared/kbs/protocol.js';

/** trustee answers 404 for these two kinds and 401 for every other (PolicyDeny included in v0.21). */
export function statusOf(kind: KbsErrorKindValue): number {
  return kind === KbsErrorKind.InvalidRequestPath || kind === KbsErrorKind.PluginNotFound ? 404 : 401;
}

export class KbsError extends Error {
  readonly status: number;

  constructor(
    readonly kind: KbsErrorKindValue,
    /** What the client is told. */
    readonly detail: string,
    /** Stable reason code for logs, metrics and tests (`attest.binding`, `session.expired`, ...). */
    readonly reason: string,
    /** The full reason, logged only. */
    readonly logDetail?: string,
  ) {
    super(detail);
    this.name = 'KbsError';
    this.status = statusOf(kind);
  }

  body(): ErrorInformation {
    return { type: errorType(this.kind), detail: this.detail };
  }
}

/** trustee's detail prefixes, so clients that match on them keep working. */
export const DETAIL = {
  attestation: (what: string) => `Attestation error: ${what}`,
  tokenNotFound: 'Attestation Token not found',
  policyDeny: 'Access denied by policy',
} as const;
