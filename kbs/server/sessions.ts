/**
 * RCAR sessions: created by /auth with a fresh single-use nonce, consumed by one /attest, then
 * holding the attestation result for resource requests until they expire (trustee: 5 minutes).
 * Expired sessions are remembered until swept so a client is told "expired", not "unknown".
 */
import { randomBytes } from 'node:crypto';
import type { TeeName } from '../../shared/kbs/protocol.js';
import type { VerifiedToken } from './token.js';

export const DEFAULT_SESSION_TTL_MS = 5 * 60_000;
export const DEFAULT_MAX_SESSIONS = 10_000;
/** Expired sessions are forgotten every this many new sessions (and whenever the store is full). */
const SWEEP_EVERY = 256;

/** The token this session was issued, as verified claims (the broker's own memory needs no signature check). */
export interface AttestedState {
  token: string;
  result: VerifiedToken;
}

export interface Session {
  readonly id: string;
  readonly tee: TeeName;
  readonly nonce: string;
  readonly extraParams: unknown;
  readonly expiresAt: number;
  /** Set by the first /attest on this session, successful or not: the nonce is single use. */
  nonceUsed: boolean;
  attested?: AttestedState;
}

export type SessionLookup = { kind: 'ok'; session: Session } | { kind: 'expired'; expiredAt: number } | { kind: 'unknown' };

export interface SessionStoreOptions {
  ttlMs?: number;
  maxSessions?: number;
  now?: () => number;
}

export class SessionStore {
  private readonly sessions = new Map<string, Session>();
  readonly ttlMs: number;
  private readonly max: number;
  private readonly now: () => number;
  private created = 0;

  constructor(opts: SessionStoreOptions = {}) {
    this.ttlMs = opts.ttlMs ?? DEFAULT_SESSION_TTL_MS;
    this.max = opts.maxSessions ?? DEFAULT_MAX_SESSIONS;
    this.now = opts.now ?? Date.now;
  }

  get size(): number {
    return this.sessions.size;
  }

  create(tee: TeeName, extraParams: unknown = ''): Session {
    if (this.sessions.size >= this.max || ++this.created % SWEEP_EVERY === 0) this.sweep();
    // Still full of live sessions: drop the oldest (Map keeps insertion order).
    while (this.sessions.size >= this.max) this.sessions.delete(this.sessions.keys().next().value!);
    const s: Session = {
      id: randomBytes(16).toString('hex'),
      tee,
      nonce: randomBytes(32).toString('base64'),
      extraParams,
      expiresAt: this.now() + this.ttlMs,
      nonceUsed: false,
    };
    this.sessions.set(s.id, s);
    return s;
  }

  lookup(id: string | undefined): SessionLookup {
    if (!id) return { kind: 'unknown' };
    const s = this.sessions.get(id);
    if (!s) return { kind: 'unknown' };
    if (this.now() >= s.expiresAt) return { kind: 'expired', expiredAt: s.expiresAt };
    return { kind: 'ok', session: s };
  }

  /** Forgets sessions that expired more than one TTL ago (and so cannot be reported as expired any more). */
  sweep(): void {
    const cutoff = this.now() - this.ttlMs;
    for (const [id, s] of this.sessions) if (s.expiresAt <= cutoff) this.sessions.delete(id);
  }
}
