/**
 * The confidential data hub: resources by `kbs:///` URI and sealed secrets, for the agent to put
 * into containers (files on a guest-memory mount, environment variables). The broker and its
 * certificate come only from init-data; the attester is created on first use. Values are
 * returned to the caller only: never logged, never in an error, never written anywhere by this
 * module.
 */
import type { JsonWebKey } from 'node:crypto';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';
import type { Logger } from '../../shared/log/logger.js';
import type { Attester } from '../attester/types.js';
import { kbsConfigFromInitdata, skipSealedSecretVerification, type KbsConfig } from './config.js';
import { KbsClient, type KbsClientOptions } from './kbs-client.js';
import { parseResourceUri } from './resource-uri.js';
import { parseSealedSecret, SealedSecretError, verifySealedSignature } from './sealed.js';

export interface DataHubInitdata {
  /** The init-data TOML exactly as measured (sent to the broker as `init-data`). */
  raw: Buffer | string;
  data: Record<string, string>;
}

export interface DataHubOptions {
  initdata: DataHubInitdata;
  /** The TEE's attester, made on first use (detectAttester in the agent). */
  attester: () => Promise<Attester>;
  /** Accept an http:// broker from init-data. Default false. */
  allowHttp?: boolean;
  /** Public JWKs for sealed-secret key ids that are not kbs:/// URIs. */
  verificationKeys?: Record<string, JsonWebKey>;
  logger?: Logger;
  client?: Pick<KbsClientOptions, 'teeKeyType' | 'retry' | 'requestTimeoutMs' | 'onRetry' | 'now' | 'sleep'>;
}

export class ConfidentialDataHub {
  readonly broker: KbsConfig | undefined;
  private readonly skipVerification: boolean;
  private client: Promise<KbsClient> | undefined;
  private attester: Attester | undefined;

  constructor(private readonly opts: DataHubOptions) {
    this.broker = kbsConfigFromInitdata(opts.initdata.data, { allowHttp: opts.allowHttp });
    this.skipVerification = skipSealedSecretVerification(opts.initdata.data);
  }

  private kbs(what: string): Promise<KbsClient> {
    const broker = this.broker;
    if (!broker) return Promise.reject(new CocoletError(ErrorCode.FailedPrecondition, `${what}: init-data names no key broker (cdh.toml [kbc] or aa.toml [token_configs.kbs])`, { context: { resource: what, check: 'cdh.no-broker' } }));
    this.client ??= this.opts.attester().then(
      (attester) => {
        this.attester = attester;
        if (attester.development) this.opts.logger?.warn({ tee: attester.tee, broker: broker.url }, 'development TEE: evidence the host can forge; secrets released to it are only as safe as the host');
        const raw = this.opts.initdata.raw;
        return new KbsClient({ config: broker, attester, initData: { format: 'toml', body: typeof raw === 'string' ? raw : raw.toString('utf8') }, ...(this.opts.logger ? { logger: this.opts.logger } : {}), ...this.opts.client });
      },
      (e: unknown) => {
        this.client = undefined;
        throw e;
      },
    );
    return this.client;
  }

  /** The value of the resource at `uri` (`kbs:///repository/type/tag`). */
  async getResource(uri: string): Promise<Buffer> {
    const r = parseResourceUri(uri, this.broker?.url);
    return (await this.kbs(uri)).getResource(r);
  }

  /** The value a `sealed.` secret stands for. */
  async unsealSecret(sealed: string): Promise<Buffer> {
    const s = parseSealedSecret(sealed);
    if (!this.skipVerification) {
      const kid = s.header?.kid;
      if (!s.header || s.header.alg !== 'ES256' || typeof kid !== 'string') throw new SealedSecretError('sealed.header', 'the header must be JSON {"alg": "ES256", "kid": ...} (unsigned secrets need skip_sealed_secret_verification in init-data)');
      let jwk: unknown;
      if (kid.startsWith('kbs:')) {
        const raw = await this.getResource(kid);
        try {
          jwk = JSON.parse(raw.toString('utf8'));
        } catch {
          throw new SealedSecretError('sealed.key', `the key ${kid} is not a JSON JWK`, ErrorCode.FailedPrecondition);
        }
      } else {
        jwk = this.opts.verificationKeys?.[kid];
        if (!jwk) throw new SealedSecretError('sealed.key', `no verification key named ${JSON.stringify(kid.slice(0, 100))}`, ErrorCode.FailedPrecondition);
      }
      verifySealedSignature(s, jwk);
    }
    return this.getResource(s.secret.name);
  }

  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    (await c?.catch(() => undefined))?.close();
    await this.attester?.close();
    this.attester = undefined;
  }
}
