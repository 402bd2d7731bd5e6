/**
 * An in-process broker on loopback for unit tests and the benchmark: temp state dir, a fresh
 * Ed25519 admin key, plain HTTP on a free port.
 */
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger, type Logger } from '../../shared/log/logger.js';
import { makeAdminToken } from '../admin/cli.js';
import type { BrokerOptions } from '../server/app.js';
import { listen, type RunningBroker } from '../server/serve.js';
import { SessionStore } from '../server/sessions.js';
import { BrokerState } from '../server/state.js';
import { TokenBroker } from '../server/token.js';

export interface TestBroker extends RunningBroker {
  dir: string;
  state: BrokerState;
  adminKey: KeyObject;
  adminToken(ttlSeconds?: number): Promise<string>;
  dispose(): Promise<void>;
}

export interface TestBrokerOptions {
  tpmAkPins?: string[];
  sessionTtlMs?: number;
  tokenTtlS?: number;
  now?: () => number;
  logger?: Logger;
  verify?: BrokerOptions['verify'];
  dir?: string;
}

export async function startTestBroker(o: TestBrokerOptions = {}): Promise<TestBroker> {
  const dir = o.dir ?? mkdtempSync(join(tmpdir(), 'cocolet-kbs-'));
  const state = BrokerState.load(dir);
  const { privateKey, publicKey } = generateKeyPairSync('ed25519');
  const broker: BrokerOptions = {
    state,
    tokens: TokenBroker.fromPem(state.tokenKeyPem(TokenBroker.generateKeyPem), o.tokenTtlS, o.now),
    sessions: new SessionStore({ ...(o.sessionTtlMs ? { ttlMs: o.sessionTtlMs } : {}), ...(o.now ? { now: o.now } : {}) }),
    admin: { publicKeys: [publicKey], ...(o.now ? { now: o.now } : {}) },
    trust: { tpmAkPins: new Set(o.tpmAkPins ?? []) },
    logger: o.logger ?? silentLogger(),
    ...(o.verify ? { verify: o.verify } : {}),
    ...(o.now ? { now: o.now } : {}),
  };
  const running = await listen({ host: '127.0.0.1', port: 0, broker });
  return {
    ...running,
    dir,
    state,
    adminKey: privateKey,
    adminToken: (ttlSeconds) => makeAdminToken(privateKey, { ...(ttlSeconds ? { ttlSeconds } : {}), ...(o.now ? { now: o.now() } : {}) }),
    dispose: async () => {
      await running.close();
      if (!o.dir) rmSync(dir, { recursive: true, force: true });
    },
  };
}
