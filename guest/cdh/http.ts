/**
 * One HTTP exchange with the broker: HTTPS verified against the certificate init-data gives
 * (and nothing else: no system CAs), or plain HTTP when the configuration allows it; a deadline;
 * a bounded response body. Errors say what failed at the transport level and whether retrying
 * can help (connection refused/reset/timeouts: yes; a certificate that does not verify: no).
 */
import { Agent as HttpAgent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

export const MAX_RESPONSE_BYTES = 4 * 1024 * 1024;

export interface HttpResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

/** A failure before a complete HTTP response arrived. */
export class TransportError extends Error {
  constructor(
    message: string,
    /** errno-style code: ECONNREFUSED, ETIMEDOUT, a TLS code, ... */
    readonly code: string,
    /** TLS verification failures are never retried: a wrong certificate is not a transient fault. */
    readonly tls: boolean,
  ) {
    super(message);
    this.name = 'TransportError';
  }
}

const TLS_CODES = /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|UNABLE_TO_GET_ISSUER|ERR_TLS|ERR_SSL|HOSTNAME|ALTNAME/;

export interface BrokerHttpOptions {
  /** Broker origin, https:// or http://. */
  url: string;
  /** PEM the broker's certificate must chain to (https). */
  ca?: string;
  timeoutMs: number;
}

export class BrokerHttp {
  private readonly base: URL;
  private readonly agent: HttpAgent | HttpsAgent;

  constructor(private readonly opts: BrokerHttpOptions) {
    this.base = new URL(opts.url);
    this.agent =
      this.base.protocol === 'https:'
        ? // `ca` replaces Node's bundled roots: only the init-data certificate is trusted.
          new HttpsAgent({ keepAlive: true, maxSockets: 4, ca: opts.ca, rejectUnauthorized: true, minVersion: 'TLSv1.2' })
        : new HttpAgent({ keepAlive: true, maxSockets: 4 });
  }

  get origin(): string {
    return this.base.origin;
  }

  request(method: 'GET' | 'POST', path: string, body: Buffer | undefined, headers: Record<string, string>): Promise<HttpResponse> {
    const url = new URL(path, this.base);
    const h: Record<string, string> = { accept: 'application/json', 'user-agent': 'cocolet-cdh/0.1.0', ...headers };
    if (body) {
      h['content-type'] = 'application/json';
      h['content-length'] = String(body.length);
    }
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      let settled = false;
      const fail = (e: TransportError): void => {
        if (settled) return;
        settled = true;
        reject(e);
      };
      const req = send(url, { method, headers: h, agent: this.agent, timeout: this.opts.timeoutMs }, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (c: Buffer) => {
          size += c.length;
          if (size > MAX_RESPONSE_BYTES) {
            req.destroy();
            fail(new TransportError(`response is larger than ${MAX_RESPONSE_BYTES} bytes`, 'ETOOBIG', false));
            return;
          }
          chunks.push(c);
        });
        res.on('end', () => {
          if (settled) return;
          settled = true;
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) });
        });
        res.on('error', (e: NodeJS.ErrnoException) => fail(new TransportError(`response interrupted (${e.code ?? e.message})`, e.code ?? 'ERESPONSE', false)));
      });
      req.on('timeout', () => {
        req.destroy();
        fail(new TransportError(`no answer within ${this.opts.timeoutMs} ms`, 'ETIMEDOUT', false));
      });
      req.on('error', (e: NodeJS.ErrnoException) => {
        const code = e.code ?? 'ECONNECTION';
        const tls = TLS_CODES.test(code);
        fail(new TransportError(tls ? `TLS: the broker's certificate does not verify against init-data's (${code})` : `connection failed (${code})`, code, tls));
      });
      req.end(body);
    });
  }

  close(): void {
    this.agent.destroy();
  }
}
