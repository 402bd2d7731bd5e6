/** Test helper: seals a vault secret as CoCo's tooling does (ES256 over header.payload). */
import { sign, type KeyObject } from 'node:crypto';

export function sealVaultSecret(name: string, key: KeyObject | undefined, kid: string, extra: Record<string, unknown> = {}): string {
  const payload = Buffer.from(JSON.stringify({ version: '0.1.0', type: 'vault', name, provider: 'kbs', provider_settings: {}, annotations: {}, ...extra })).toString('base64url');
  if (!key) return `sealed.fakejwsheader.${payload}.fakesignature`;
  const header = Buffer.from(JSON.stringify({ alg: 'ES256', kid })).toString('base64url');
  const sig = sign('sha256', Buffer.from(`${header}.${payload}`), { key, dsaEncoding: 'ieee-p1363' }).toString('base64url');
  return `sealed.${header}.${payload}.${sig}`;
}
