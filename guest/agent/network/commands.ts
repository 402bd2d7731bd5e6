/**
 * The guest's network requests as busybox commands (the guest image has busybox `ip` and `arp`,
 * not iproute2), and busybox's text output parsed back (it has no JSON). Pure; unit-tested. Every
 * value that reaches an argv is checked first (names, addresses, prefixes, MACs): a bad one is an
 * InvalidArgument naming the field, never a command.
 */
import { isIP } from 'node:net';
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';

export const IFF_NOARP = 0x80;
/** rtnetlink scopes by name (busybox prints and takes names). */
const SCOPE_NAMES: Record<number, string> = { 0: 'global', 200: 'site', 253: 'link', 254: 'host' };
const SCOPE_NUMBERS: Record<string, number> = { global: 0, universe: 0, site: 200, link: 253, host: 254 };
export const RTNH_F_ONLINK = 4;

const IFNAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,14}$/;
const MAC_RE = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

const invalid = (msg: string): never => {
  throw new CocoletError(ErrorCode.InvalidArgument, msg);
};

export function checkName(name: string, field: string): string {
  if (!IFNAME_RE.test(name)) invalid(`${field} ${JSON.stringify(name.slice(0, 40))} is not an interface name (1-15 of A-Z a-z 0-9 _ . -, not starting with - or .)`);
  return name;
}

export function checkMac(mac: string, field: string): string {
  const m = mac.toLowerCase();
  if (!MAC_RE.test(m)) invalid(`${field} ${JSON.stringify(mac.slice(0, 40))} is not a MAC address`);
  return m;
}

export function checkIp(ip: string, field: string, family?: 4 | 6): 4 | 6 {
  const f = isIP(ip);
  if (f !== 4 && f !== 6) return invalid(`${field} ${JSON.stringify(ip.slice(0, 60))} is not an IP address`);
  if (family && f !== family) invalid(`${field} ${ip} is not IPv${family}`);
  return f;
}

/** `a.b.c.d/n` (or an address: a host route) with a valid prefix; answers the family. */
export function checkCidr(cidr: string, field: string): 4 | 6 {
  const [ip = '', len, ...rest] = cidr.split('/');
  const f = checkIp(ip, field);
  if (rest.length) invalid(`${field} ${JSON.stringify(cidr.slice(0, 60))} is not a prefix`);
  if (len !== undefined) checkPrefix(len, f, field);
  return f;
}

export function checkPrefix(len: string, family: 4 | 6, field: string): number {
  const n = Number(len);
  if (!/^\d{1,3}$/.test(len) || n > (family === 4 ? 32 : 128)) invalid(`${field} prefix length ${JSON.stringify(len.slice(0, 10))} is out of range for IPv${family}`);
  return n;
}

export interface IfaceConfig {
  /** Current kernel name of the NIC (found by its MAC). */
  current: string;
  name: string;
  mtu: number;
  addresses: { cidr: string; family: 4 | 6 }[];
  noArp: boolean;
}

/** busybox `ip` argv lists that give one NIC its name, MTU, addresses and state. */
export function interfaceCommands(c: IfaceConfig): string[][] {
  const cur = checkName(c.current, 'interface');
  const name = checkName(c.name, 'interface name');
  if (!Number.isInteger(c.mtu) || c.mtu < 68 || c.mtu > 65535) invalid(`MTU ${c.mtu} is out of range 68-65535`);
  for (const a of c.addresses) checkCidr(a.cidr, 'address');
  const out: string[][] = [['ip', 'link', 'set', 'dev', cur, 'down']];
  if (cur !== name) out.push(['ip', 'link', 'set', 'dev', cur, 'name', name]);
  out.push(['ip', 'link', 'set', 'dev', name, 'mtu', String(c.mtu), 'arp', c.noArp ? 'off' : 'on']);
  out.push(['ip', 'addr', 'flush', 'dev', name]);
  for (const a of c.addresses) out.push(['ip', 'addr', 'add', a.cidr, 'dev', name]);
  out.push(['ip', 'link', 'set', 'dev', name, 'up']);
  return out;
}

export interface RouteConfig {
  /** `default` or a prefix. */
  dest: string;
  gateway?: string;
  device: string;
  source?: string;
  scope: number;
  family: 4 | 6;
  onlink: boolean;
}

/** busybox `ip route replace` argv for one route (added, or replacing the one with the same key). */
export function routeCommand(r: RouteConfig): string[] {
  const dev = checkName(r.device, 'route device');
  if (r.dest !== 'default') checkCidr(r.dest, 'route destination');
  if (r.gateway) checkIp(r.gateway, 'route gateway', r.family);
  if (r.source) checkIp(r.source, 'route source', r.family);
  const scope = SCOPE_NAMES[r.scope];
  if (scope === undefined) invalid(`route scope ${r.scope} is not one of ${Object.keys(SCOPE_NAMES).join(', ')}`);
  return [
    'ip', ...(r.family === 6 ? ['-f', 'inet6'] : []), 'route', 'replace', r.dest,
    ...(r.gateway ? ['via', r.gateway] : []), 'dev', dev,
    ...(r.source ? ['src', r.source] : []),
    ...(r.scope !== 0 ? ['scope', scope!] : []),
    ...(r.onlink ? ['onlink'] : []),
  ];
}

/** busybox `arp -s` for a static IPv4 neighbour. */
export function neighborCommand(n: { ip: string; mac: string; device: string }): string[] {
  checkIp(n.ip, 'neighbour address', 4);
  return ['arp', '-i', checkName(n.device, 'neighbour device'), '-s', n.ip, checkMac(n.mac, 'neighbour MAC')];
}

export interface ListedAddress {
  device: string;
  family: 4 | 6;
  address: string;
  prefixLen: number;
  scope: string;
}

/** busybox `ip -o addr show`: `3: eth0    inet 10.0.2.15/24 scope global eth0\ …`. */
export function parseAddrLines(text: string): ListedAddress[] {
  const out: ListedAddress[] = [];
  for (const line of text.split('\n')) {
    const m = /^\d+:\s+([^\s:@]+)\S*\s+(inet6?)\s+([0-9A-Fa-f.:]+)\/(\d+)(?:.*?\sscope\s+(\S+))?/.exec(line);
    if (!m) continue;
    const family = m[2] === 'inet6' ? 6 : 4;
    if (isIP(m[3]!) !== family) continue;
    out.push({ device: m[1]!, family, address: m[3]!, prefixLen: Number(m[4]), scope: m[5] ?? 'global' });
  }
  return out;
}

export interface ListedRoute {
  family: 4 | 6;
  dest: string;
  gateway: string;
  device: string;
  source: string;
  scope: number;
  flags: number;
}

/** busybox `ip route show`: `default via 10.0.2.2 dev user0  metric 1000`, `10.0.2.0/24 dev user0 scope link  src 10.0.2.15`. */
export function parseRouteLines(text: string, family: 4 | 6): ListedRoute[] {
  const out: ListedRoute[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim().split(/\s+/).filter(Boolean);
    if (!t.length || ['multicast', 'broadcast', 'local', 'unreachable', 'blackhole', 'prohibit', 'throw'].includes(t[0]!)) continue;
    const dest = t[0]!;
    if (dest !== 'default' && isIP(dest.split('/')[0]!) !== family) continue;
    const r: ListedRoute = { family, dest: dest === 'default' ? '' : dest, gateway: '', device: '', source: '', scope: 0, flags: 0 };
    for (let i = 1; i < t.length; i++) {
      const k = t[i]!;
      const v = t[i + 1] ?? '';
      if (k === 'onlink') {
        r.flags |= RTNH_F_ONLINK;
        continue;
      }
      if (k === 'via') r.gateway = v;
      else if (k === 'dev') r.device = v;
      else if (k === 'src') r.source = v;
      else if (k === 'scope') r.scope = SCOPE_NUMBERS[v] ?? (Number.isInteger(Number(v)) ? Number(v) : 0);
      else if (!['metric', 'proto', 'table', 'mtu', 'pref', 'expires'].includes(k)) continue;
      i++; // the keyword's value
    }
    if (r.device) out.push(r);
  }
  return out;
}
