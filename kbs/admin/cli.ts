/**
 * `cocolet-kbs admin ...`: the admin API client. Each call carries a short-lived admin JWT
 * (EdDSA, role admin) signed with --admin-key, or a ready token from --admin-token-file (as
 * trustee's kbs-client takes it).
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Agent as HttpsAgent } from 'node:https';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { httpError, httpExchange } from '../../shared/kbs/client.js';
import { KBS_PREFIX, parseResourcePath } from '../../shared/kbs/protocol.js';

export const ADMIN_USAGE = `usage: cocolet-kbs admin --url URL (--admin-key FILE | --admin-token-file FILE) [--cacert FILE] COMMAND
commands:
  set-resource --path REPO/TYPE/TAG --resource-file FILE
  set-resource-policy (--policy-file FILE | --allow-all | --deny-all)
  get-resource-policy
  set-reference-values [--id default] --file FILE      (JSON reference values)
  make-token [--ttl SECONDS]                            print an admin JWT
options:
  --admin-key FILE     Ed25519 private key (PEM) to sign a 5-minute admin JWT per call
  --issuer S --audience S   iss / aud to put in the JWT`;

const OPTIONS = {
  url: { type: 'string' },
  'admin-key': { type: 'string' },
  'admin-token-file': { type: 'string' },
  cacert: { type: 'string' },
  issuer: { type: 'string' },
  audience: { type: 'string' },
  path: { type: 'string' },
  'resource-file': { type: 'string' },
  'policy-file': { type: 'string' },
  'allow-all': { type: 'boolean' },
  'deny-all': { type: 'boolean' },
  id: { type: 'string' },
  file: { type: 'string' },
  ttl: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

class UsageError extends Error {}

function read(path: string | undefined, flag: string): Buffer {
  if (!path) throw new UsageError(`${flag} is required`);
  try {
    return readFileSync(path);
  } catch (e) {
    throw new UsageError(`${flag}: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? String(e)}`);
  }
}

export async function makeAdminToken(key: KeyObject, opts: { ttlSeconds?: number; issuer?: string; audience?: string; now?: number } = {}): Promise<string> {
  const iat = Math.floor((opts.now ?? Date.now()) / 1000);
  let jwt = new SignJWT({ role: 'admin' })
    .setProtectedHeader({ alg: 'EdDSA', typ: 'JWT' })
    .setIssuedAt(iat)
    .setExpirationTime(iat + (opts.ttlSeconds ?? 300));
  if (opts.issuer) jwt = jwt.setIssuer(opts.issuer);
  if (opts.audience) jwt = jwt.setAudience(opts.audience);
  return jwt.sign(key);
}

const ALLOW_ALL = JSON.stringify({ rules: [{ resource: '*/*/*', allow: true }] });
const DENY_ALL = JSON.stringify({ rules: [] });

export async function runAdmin(argv: string[], io: { out: (s: string) => void; err: (s: string) => void }): Promise<number> {
  let v: ReturnType<typeof parseArgs<{ args: string[]; options: typeof OPTIONS; allowPositionals: true }>>['values'];
  let cmd: string | undefined;
  try {
    const p = parseArgs({ args: argv, options: OPTIONS, strict: true, allowPositionals: true });
    v = p.values;
    cmd = p.positionals[0];
    if (v.help) {
      io.out(ADMIN_USAGE);
      return 0;
    }
    if (!cmd) throw new UsageError('a command is required');
    const ttl = v.ttl === undefined ? 300 : Number(v.ttl);
    if (!Number.isFinite(ttl) || ttl <= 0) throw new UsageError('--ttl must be a positive number of seconds');
    const tokenOpts = { ttlSeconds: ttl, ...(v.issuer ? { issuer: v.issuer } : {}), ...(v.audience ? { audience: v.audience } : {}) };
    const token = async (): Promise<string> => {
      if (v['admin-token-file']) return read(v['admin-token-file'], '--admin-token-file').toString('utf8').trim();
      let key: KeyObject;
      try {
        key = createPrivateKey(read(v['admin-key'], '--admin-key (or --admin-token-file)'));
      } catch (e) {
        if (e instanceof UsageError) throw e;
        throw new UsageError(`--admin-key: not a PEM private key`);
      }
      if (key.asymmetricKeyType !== 'ed25519') throw new UsageError(`--admin-key is ${key.asymmetricKeyType}, not Ed25519`);
      return makeAdminToken(key, tokenOpts);
    };
    if (cmd === 'make-token') {
      io.out(await token());
      return 0;
    }
    if (!v.url) throw new UsageError('--url is required');
    const base = new URL(v.url);
    const agent = base.protocol === 'https:' ? new HttpsAgent(v.cacert ? { ca: read(v.cacert, '--cacert') } : {}) : undefined;
    let method = 'POST';
    let path: string;
    let body: unknown;
    let headers: Record<string, string> = {};
    switch (cmd) {
      case 'set-resource': {
        if (!v.path || !parseResourcePath(v.path)) throw new UsageError('--path must be REPOSITORY/TYPE/TAG');
        path = `${KBS_PREFIX}/resource/${v.path}`;
        body = read(v['resource-file'], '--resource-file');
        headers = { 'content-type': 'application/octet-stream' };
        break;
      }
      case 'set-resource-policy': {
        const n = [v['policy-file'], v['allow-all'], v['deny-all']].filter(Boolean).length;
        if (n !== 1) throw new UsageError('give exactly one of --policy-file, --allow-all, --deny-all');
        const text = v['allow-all'] ? ALLOW_ALL : v['deny-all'] ? DENY_ALL : read(v['policy-file'], '--policy-file').toString('utf8');
        path = `${KBS_PREFIX}/resource-policy`;
        body = { policy: Buffer.from(text).toString('base64url') };
        break;
      }
      case 'get-resource-policy':
        method = 'GET';
        path = `${KBS_PREFIX}/resource-policy`;
        break;
      case 'set-reference-values': {
        const text = read(v.file, '--file').toString('utf8');
        try {
          JSON.parse(text);
        } catch {
          throw new UsageError(`--file ${v.file} is not JSON`);
        }
        path = `${KBS_PREFIX}/attestation-policy`;
        body = { type: 'json', policy_id: v.id ?? 'default', policy: Buffer.from(text).toString('base64url') };
        break;
      }
      default:
        throw new UsageError(`unknown command ${cmd}`);
    }
    const r = await httpExchange(new URL(path, base), method, body, { authorization: `Bearer ${await token()}`, ...headers }, agent);
    agent?.destroy();
    if (r.status !== 200) {
      io.err(`cocolet-kbs admin ${cmd}: ${httpError(r).message}`);
      return 1;
    }
    if (cmd === 'get-resource-policy') {
      const p = (JSON.parse(r.body.toString('utf8')) as { policy: string }).policy;
      io.out(Buffer.from(p, 'base64url').toString('utf8'));
    }
    return 0;
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      io.err(`cocolet-kbs admin: ${(e as Error).message}\n${ADMIN_USAGE}`);
      return 2;
    }
    if ((e as NodeJS.ErrnoException).code === 'ECONNREFUSED') {
      io.err(`cocolet-kbs admin ${cmd ?? ''}: cannot connect to ${v!.url}: connection refused`);
      return 1;
    }
    throw e;
  }
}
