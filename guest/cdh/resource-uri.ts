/**
 * CoCo resource URIs for the KBS `resource` plugin: `kbs:///<repository>/<type>/<tag>`.
 * The host part is empty in the usual form. `kbs://host:port/...` is accepted only when host and
 * port are those of the broker init-data names (CoCo's CDH ignores the host and uses its
 * configured broker; cocolet refuses a URI that says otherwise rather than silently
 * redirecting). Other plugins (`kbs+<plugin>://`), queries and fragments are refused.
 */
import { CocoletError, ErrorCode } from '../../shared/errors/index.js';

export interface ResourceUri {
  repository: string;
  type: string;
  tag: string;
}

const SEGMENT = /^[A-Za-z0-9._-]{1,128}$/;

function bad(uri: string, why: string): CocoletError {
  return new CocoletError(ErrorCode.InvalidArgument, `resource URI ${JSON.stringify(uri.slice(0, 200))}: ${why}`, { context: { resource: uri.slice(0, 200) } });
}

/** The `host[:port]` a broker origin is reached at, as a URI authority would name it. */
function authorityOf(origin: string): { host: string; port: string } {
  const u = new URL(origin);
  return { host: u.hostname.toLowerCase(), port: u.port || (u.protocol === 'https:' ? '443' : '80') };
}

/** Parses a resource URI; `brokerUrl` is the configured broker's origin (for `kbs://host:port/`). */
export function parseResourceUri(uri: string, brokerUrl?: string): ResourceUri {
  const m = /^kbs:\/\/([^/?#]*)(\/[^?#]*)$/.exec(uri);
  if (!m) {
    if (/^kbs\+/.test(uri)) throw bad(uri, 'only the resource plugin (kbs://) is supported');
    if (/^kbs:\/\/[^?#]*[?#]/.test(uri)) throw bad(uri, 'queries and fragments are not supported');
    throw bad(uri, 'is not kbs:///<repository>/<type>/<tag>');
  }
  const authority = m[1]!;
  if (authority !== '') {
    if (!brokerUrl) throw bad(uri, 'names a broker host but no broker is configured');
    let named: URL;
    try {
      named = new URL(`https://${authority}`);
    } catch {
      throw bad(uri, 'has an unreadable host');
    }
    const want = authorityOf(brokerUrl);
    const port = named.port || want.port;
    if (named.hostname.toLowerCase() !== want.host || port !== want.port || named.username || named.password) {
      throw bad(uri, `names broker ${authority}, not the one init-data configures`);
    }
  }
  const parts = m[2]!.slice(1).split('/');
  if (parts.length !== 3) throw bad(uri, `has ${parts.length} path segments, not <repository>/<type>/<tag>`);
  for (const p of parts) {
    if (!SEGMENT.test(p) || p === '.' || p === '..') throw bad(uri, 'path segments may only hold [A-Za-z0-9._-] (and are not . or ..)');
  }
  return { repository: parts[0]!, type: parts[1]!, tag: parts[2]! };
}

export function resourcePath(r: ResourceUri): string {
  return `${r.repository}/${r.type}/${r.tag}`;
}

export function resourceUriString(r: ResourceUri): string {
  return `kbs:///${resourcePath(r)}`;
}
