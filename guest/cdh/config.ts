/**
 * Where the broker is, taken only from the pod's init-data (measured into the TEE before the
 * agent serves anything), as CoCo's guest components read it:
 *   - `cdh.toml`: `[kbc]` `name`, `url`, `kbs_cert` (PEM);
 *   - `aa.toml`:  `[token_configs.kbs]` `url`, `cert` (PEM).
 * When both name a broker they must agree. An `https` URL needs the broker's certificate (or its
 * CA) in init-data: the guest trusts no system CA for its broker. An `http` URL is allowed only
 * when the caller says so (tests, interop with a plain-HTTP trustee), never by default. Nothing
 * here comes from the host at run time, so the host cannot point the guest at a broker of its own.
 */
import { X509Certificate } from 'node:crypto';
import { parse as parseToml } from 'smol-toml';
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export interface KbsConfig {
  /** The broker's base URL (origin only, no path). */
  url: string;
  /** PEM certificate(s) that HTTPS to the broker is verified against. */
  cert?: string;
  /** Which init-data file named it. */
  source: 'cdh.toml' | 'aa.toml';
}

export interface KbsConfigOptions {
  /** Accept an `http:` broker URL (no TLS). Default false. */
  allowHttp?: boolean;
}

function bad(msg: string): CocoletError {
  return new CocoletError(ErrorCode.ConfigInvalid, `init-data: ${msg}`);
}

function table(doc: Record<string, unknown>, key: string, file: string): Record<string, unknown> | undefined {
  const v = doc[key];
  if (v === undefined) return undefined;
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw bad(`${file}: [${key}] must be a table`);
  return v as Record<string, unknown>;
}

function optString(t: Record<string, unknown>, key: string, file: string): string | undefined {
  const v = t[key];
  if (v === undefined || v === '') return undefined;
  if (typeof v !== 'string') throw bad(`${file}: ${key} must be a string`);
  return v;
}

function parseFile(text: string, file: string): Record<string, unknown> {
  try {
    return parseToml(text) as Record<string, unknown>;
  } catch (e) {
    throw bad(`${file} is not TOML (${(e as Error).message.split('\n')[0]})`);
  }
}

function fromCdh(text: string): Omit<KbsConfig, 'source'> | undefined {
  const kbc = table(parseFile(text, 'cdh.toml'), 'kbc', 'cdh.toml');
  if (!kbc) return undefined;
  const name = optString(kbc, 'name', 'cdh.toml');
  if (name !== undefined && name !== 'cc_kbc') throw bad(`cdh.toml: [kbc] name ${JSON.stringify(name)} is not cc_kbc (the only KBS client cocolet has)`);
  const url = optString(kbc, 'url', 'cdh.toml');
  if (!url) return undefined;
  const cert = optString(kbc, 'kbs_cert', 'cdh.toml');
  return { url, ...(cert ? { cert } : {}) };
}

function fromAa(text: string): Omit<KbsConfig, 'source'> | undefined {
  const tc = table(parseFile(text, 'aa.toml'), 'token_configs', 'aa.toml');
  const kbs = tc ? table(tc, 'kbs', 'aa.toml') : undefined;
  if (!kbs) return undefined;
  const url = optString(kbs, 'url', 'aa.toml');
  if (!url) return undefined;
  const cert = optString(kbs, 'cert', 'aa.toml');
  return { url, ...(cert ? { cert } : {}) };
}

/** The broker's origin: scheme, host and port only; anything else is refused. */
export function normaliseBrokerUrl(url: string, file: string, opts: KbsConfigOptions = {}): string {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw bad(`${file}: broker URL is not a URL`);
  }
  if (u.protocol !== 'https:' && !(u.protocol === 'http:' && opts.allowHttp)) throw bad(`${file}: broker URL scheme ${u.protocol} is not https${opts.allowHttp ? ' or http' : ''}`);
  if (u.username || u.password) throw bad(`${file}: broker URL carries credentials`);
  if ((u.pathname !== '/' && u.pathname !== '') || u.search || u.hash) throw bad(`${file}: broker URL must be an origin (scheme://host:port), without path or query`);
  return u.origin;
}

function checkCert(pem: string, file: string): void {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g);
  if (!blocks) throw bad(`${file}: broker certificate is not PEM`);
  for (const b of blocks) {
    try {
      new X509Certificate(b);
    } catch {
      throw bad(`${file}: broker certificate does not parse`);
    }
  }
}

/**
 * The broker named by init-data's `[data]` files, or undefined when none names one (the pod then
 * gets no secrets from a broker). Throws on contradictions and on unusable values.
 */
export function kbsConfigFromInitdata(data: Record<string, string>, opts: KbsConfigOptions = {}): KbsConfig | undefined {
  const cdh = data['cdh.toml'] !== undefined ? fromCdh(data['cdh.toml']) : undefined;
  const aa = data['aa.toml'] !== undefined ? fromAa(data['aa.toml']) : undefined;
  const found: KbsConfig[] = [];
  if (cdh) found.push({ ...cdh, url: normaliseBrokerUrl(cdh.url, 'cdh.toml', opts), source: 'cdh.toml' });
  if (aa) found.push({ ...aa, url: normaliseBrokerUrl(aa.url, 'aa.toml', opts), source: 'aa.toml' });
  if (found.length === 0) return undefined;
  const [first, second] = found as [KbsConfig, KbsConfig | undefined];
  if (second) {
    if (second.url !== first.url) throw bad(`cdh.toml and aa.toml name different brokers (${first.url}, ${second.url})`);
    if (first.cert && second.cert && first.cert.trim() !== second.cert.trim()) throw bad('cdh.toml and aa.toml give different broker certificates');
  }
  const cert = first.cert ?? second?.cert;
  if (new URL(first.url).protocol === 'https:' && !cert) throw bad(`${first.source}: an https broker needs its certificate (kbs_cert / cert) in init-data`);
  if (cert) checkCert(cert, first.source);
  return { url: first.url, ...(cert ? { cert } : {}), source: first.source };
}

/** cdh.toml's `skip_sealed_secret_verification` (default false). */
export function skipSealedSecretVerification(data: Record<string, string>): boolean {
  const text = data['cdh.toml'];
  if (text === undefined) return false;
  const v = parseFile(text, 'cdh.toml').skip_sealed_secret_verification;
  if (v === undefined) return false;
  if (typeof v !== 'boolean') throw bad('cdh.toml: skip_sealed_secret_verification must be true or false');
  return v;
}
