/**
 * What the pod's network namespace holds, read with iproute2's JSON output (`ip -j`) run inside it
 * (`nsenter --net=<path> ip -j …`): the CNI interface (its MAC, MTU, addresses), the routes through
 * it and its permanent neighbours. Parsing is pure and strict: anything malformed is refused with a
 * message naming the field, never guessed.
 */
import { isIP } from 'node:net';
import { CocoletError, ErrorCode } from '../../../shared/errors/errors.js';

export type Family = 4 | 6;

export interface PodAddress {
  family: Family;
  address: string;
  prefixLen: number;
}

export interface PodInterface {
  name: string;
  /** `aa:bb:cc:dd:ee:ff`, lower case: the guest's NIC gets it (the veth's MAC). */
  mac: string;
  mtu: number;
  /** `veth`, `macvlan`, … (`ip -d`'s linkinfo.info_kind); empty when iproute2 reports none. */
  kind: string;
  /** Global addresses only (link-local IPv6 is the guest kernel's own). */
  addresses: PodAddress[];
}

export interface PodRoute {
  family: Family;
  /** `default` or a CIDR (`10.1.2.0/24`). */
  dest: string;
  gateway?: string;
  device: string;
  source?: string;
  /** rtnetlink scope: 0 universe, 253 link, 254 host. */
  scope: number;
  /** rtnetlink next-hop flags (RTNH_F_ONLINK = 4). */
  flags: number;
}

export interface PodNeighbor {
  family: Family;
  ip: string;
  mac: string;
  device: string;
}

const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;
const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const SCOPES: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254, nowhere: 255 };
const RTNH_F_ONLINK = 4;

const bad = (what: string, why: string): never => {
  throw new CocoletError(ErrorCode.InvalidArgument, `ip -j ${what}: ${why}`);
};

function parseJsonArray(text: string, what: string): Record<string, unknown>[] {
  let v: unknown;
  try {
    v = JSON.parse(text.trim() || '[]');
  } catch (e) {
    return bad(what, `output is not JSON (${(e as Error).message})`);
  }
  if (!Array.isArray(v)) return bad(what, 'output is not a JSON array');
  return v.map((x, i) => (x && typeof x === 'object' && !Array.isArray(x) ? (x as Record<string, unknown>) : bad(what, `entry ${i} is not an object`)));
}

export function checkIfName(name: unknown, what: string): string {
  if (typeof name !== 'string' || !IFNAME_RE.test(name)) return bad(what, `interface name ${JSON.stringify(name)} is not a Linux interface name`);
  return name;
}

export function checkMac(mac: unknown, what: string): string {
  const m = typeof mac === 'string' ? mac.toLowerCase() : '';
  if (!MAC_RE.test(m)) return bad(what, `MAC address ${JSON.stringify(mac)} is not six hex octets`);
  return m;
}

function checkIp(ip: unknown, what: string): { ip: string; family: Family } {
  const f = typeof ip === 'string' ? isIP(ip) : 0;
  if (f !== 4 && f !== 6) return bad(what, `${JSON.stringify(ip)} is not an IP address`);
  return { ip: ip as string, family: f };
}

/** `dst` of a route: `default`, an address (a host route) or address/prefix. */
function checkDest(dst: unknown, family: Family, what: string): string {
  if (dst === 'default') return 'default';
  if (typeof dst !== 'string') return bad(what, `route destination ${JSON.stringify(dst)} is not a string`);
  const [ip, len, ...rest] = dst.split('/');
  const c = checkIp(ip, what);
  if (c.family !== family || rest.length) return bad(what, `route destination ${JSON.stringify(dst)} is not an IPv${family} prefix`);
  const max = family === 4 ? 32 : 128;
  const n = len === undefined ? max : Number(len);
  if (!Number.isInteger(n) || n < 0 || n > max || (len !== undefined && !/^\d+$/.test(len))) return bad(what, `route destination ${JSON.stringify(dst)} has a bad prefix length`);
  return `${c.ip}/${n}`;
}

/**
 * `ip -j -d addr show`: every interface but loopback, with its global addresses. Interfaces that
 * are not Ethernet (tunnels, …) are skipped: only an Ethernet link can be mirrored into a VM's NIC.
 */
export function parseAddrShow(text: string): PodInterface[] {
  const out: PodInterface[] = [];
  for (const e of parseJsonArray(text, 'addr show')) {
    const name = checkIfName(e.ifname, 'addr show');
    if (e.link_type !== 'ether') continue;
    const mtu = e.mtu;
    if (typeof mtu !== 'number' || !Number.isInteger(mtu) || mtu < 68 || mtu > 65535) bad('addr show', `interface ${name}: MTU ${JSON.stringify(mtu)} is out of range 68-65535`);
    const linkinfo = (e.linkinfo ?? {}) as { info_kind?: unknown };
    const addresses: PodAddress[] = [];
    for (const a of Array.isArray(e.addr_info) ? (e.addr_info as Record<string, unknown>[]) : []) {
      if (a.family !== 'inet' && a.family !== 'inet6') continue;
      if (a.scope !== 'global') continue;
      const c = checkIp(a.local, `addr show (${name})`);
      const max = c.family === 4 ? 32 : 128;
      if (typeof a.prefixlen !== 'number' || !Number.isInteger(a.prefixlen) || a.prefixlen < 0 || a.prefixlen > max) bad('addr show', `interface ${name}: prefix length ${JSON.stringify(a.prefixlen)} of ${c.ip} is out of range`);
      addresses.push({ family: c.family, address: c.ip, prefixLen: a.prefixlen as number });
    }
    out.push({ name, mac: checkMac(e.address, `addr show (${name})`), mtu: mtu as number, kind: typeof linkinfo.info_kind === 'string' ? linkinfo.info_kind : '', addresses });
  }
  return out;
}

/** `ip -j [-6] route show`: unicast routes of the main table (multicast, local and broadcast ones are the kernel's). */
export function parseRouteShow(text: string, family: Family): PodRoute[] {
  const out: PodRoute[] = [];
  for (const r of parseJsonArray(text, 'route show')) {
    if (r.type !== undefined && r.type !== 'unicast') continue;
    const dest = checkDest(r.dst, family, 'route show');
    if (family === 6 && dest.startsWith('fe80:')) continue; // link-local: the guest kernel makes its own
    const device = checkIfName(r.dev, 'route show');
    const route: PodRoute = { family, dest, device, scope: 0, flags: 0 };
    if (r.gateway !== undefined) {
      const g = checkIp(r.gateway, 'route show');
      if (g.family !== family) bad('route show', `gateway ${g.ip} of ${dest} is not IPv${family}`);
      route.gateway = g.ip;
    }
    if (r.prefsrc !== undefined) route.source = checkIp(r.prefsrc, 'route show').ip;
    if (r.scope !== undefined) {
      const s = SCOPES[String(r.scope)];
      if (s === undefined) bad('route show', `scope ${JSON.stringify(r.scope)} of ${dest} is unknown`);
      route.scope = s!;
    }
    if (Array.isArray(r.flags) && r.flags.includes('onlink')) route.flags |= RTNH_F_ONLINK;
    out.push(route);
  }
  return out;
}

/** `ip -j neigh show nud permanent`: static neighbours (CNI plugins that pin ARP entries set these). */
export function parseNeighShow(text: string): PodNeighbor[] {
  const out: PodNeighbor[] = [];
  for (const n of parseJsonArray(text, 'neigh show')) {
    if (n.lladdr === undefined) continue;
    const c = checkIp(n.dst, 'neigh show');
    out.push({ family: c.family, ip: c.ip, mac: checkMac(n.lladdr, 'neigh show'), device: checkIfName(n.dev, 'neigh show') });
  }
  return out;
}

/**
 * The one interface a VM sandbox mirrors: the pod's Ethernet interface with an address (CNI's
 * `eth0`, a veth). Zero or several candidates is an error naming them: cocolet connects one.
 */
export function podInterface(ifaces: PodInterface[]): PodInterface {
  const withAddr = ifaces.filter((i) => i.addresses.length > 0);
  if (withAddr.length === 0) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `the pod's network namespace has no Ethernet interface with an address (found: ${ifaces.map((i) => i.name).join(', ') || 'none'}); was CNI run for it?`);
  }
  if (withAddr.length > 1) {
    throw new CocoletError(ErrorCode.FailedPrecondition, `the pod's network namespace has ${withAddr.length} interfaces with addresses (${withAddr.map((i) => i.name).join(', ')}); a VM sandbox connects exactly one`);
  }
  return withAddr[0]!;
}
