/**
 * CoCo init-data for a pod: the TOML document (`version = "0.1.0"`, `algorithm`, `[data]` with
 * `policy.json` and optionally `cocolet-agent.json`) and the pod annotation that carries it,
 * `io.katacontainers.config.hypervisor.cc_init_data` = base64(gzip(TOML)). The guest measures the
 * TOML bytes exactly as delivered (guest/initdata), so what this writes is what the TEE attests.
 */
import { gzipSync } from 'node:zlib';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import type { PolicyDocument } from './types.js';

export const INIT_DATA_ANNOTATION = 'io.katacontainers.config.hypervisor.cc_init_data';
export const INITDATA_POLICY_KEY = 'policy.json';
export const INITDATA_SETTINGS_KEY = 'cocolet-agent.json';

export interface InitdataInput {
  policy: PolicyDocument;
  /** Agent settings (cocolet-agent.json), e.g. `{ insecureRegistries: ['10.0.2.2:5000'] }`. */
  settings?: Record<string, unknown>;
}

/** The init-data TOML (policy as one line of JSON). */
export function renderInitdata(i: InitdataInput): string {
  const data: Record<string, string> = { [INITDATA_POLICY_KEY]: JSON.stringify(i.policy) };
  if (i.settings) data[INITDATA_SETTINGS_KEY] = JSON.stringify(i.settings);
  const toml = `${stringifyToml({ version: '0.1.0', algorithm: 'sha256', data })}\n`;
  // the agent parses it with the same TOML reader: refuse to write what would read back differently
  const back = parseToml(toml) as { data?: Record<string, string> };
  if (back.data?.[INITDATA_POLICY_KEY] !== data[INITDATA_POLICY_KEY]) throw new Error('init-data TOML does not read back as written');
  return toml;
}

/** The annotation value: base64 of the gzipped TOML. */
export function initdataAnnotation(toml: string): string {
  return gzipSync(Buffer.from(toml, 'utf8')).toString('base64');
}
