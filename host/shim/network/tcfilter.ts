/**
 * The commands that join a VM's tap device to the pod's veth inside the pod's network namespace
 * ("tcfilter", as Kata's runtime does it): an ingress qdisc on each and a u32 match-all filter
 * whose action is `mirred egress redirect` to the other, so every frame CNI's bridge sends to the
 * veth leaves through the tap into the guest's virtio-net NIC, and every frame the guest sends
 * leaves through the veth. The veth keeps its MAC and address in the namespace (CNI's DEL needs
 * them); the guest's NIC gets the same MAC, so the bridge and its neighbours never see a change.
 *
 * Port-forward: containerd's CRI PortForward dials `localhost:<port>` inside the pod's network
 * namespace, where under a VM nothing listens. So the tap also carries a private link
 * (`PORT_FORWARD_LINK`, a /30 of 169.254.0.0/16) between the namespace and the guest: frames from the
 * guest addressed to the namespace's end of that link (IPv4 to it, ARP asking for it) match a u32
 * filter with no action (`flowid` only: classification ends, the frame goes up the namespace's
 * stack; no act_gact module needed) before the redirect, and a DNAT rule sends TCP to 127.0.0.1 in the
 * namespace to the guest's end (SNAT to the namespace's end, `route_localnet` so a loopback source
 * may leave). A server in the pod listening on all addresses (or on the guest's end) answers;
 * one bound only to 127.0.0.1 in the guest does not (it would under runc).
 *
 * Pure: builds argv lists (unit-tested); pod-network.ts runs them.
 */
import { checkIfName } from './iproute.js';

/** The namespace's end (`.1`) and the guest's end (`.2`) of the port-forward link. */
export const PORT_FORWARD_LINK = { host: '169.254.99.1', guest: '169.254.99.2', prefixLen: 30 } as const;
/** Priority of the match-all redirect filters (the port-forward pass filters come first). */
export const REDIRECT_PRIO = 49;
/** Comment on the port-forward iptables rules (they are found and deleted by their full spec). */
export const IPTABLES_COMMENT = 'cocolet-port-forward';

export interface TapLink {
  /** The pod's interface (CNI's veth end inside the namespace, e.g. `eth0`). */
  veth: string;
  /** The VM's tap device, moved into the namespace. */
  tap: string;
  mtu: number;
}

/** A command, and whether it runs inside the pod's namespace (else on the host). */
export interface NetCommand {
  argv: string[];
  inNetns: boolean;
}

/** `169.254.99.1` → `0xa9fe6301` (the ARP target-address match). */
export function ipv4Hex(ip: string): string {
  const o = ip.split('.').map(Number);
  if (o.length !== 4 || o.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new RangeError(`${ip} is not an IPv4 address`);
  return `0x${o.map((x) => x.toString(16).padStart(2, '0')).join('')}`;
}

const ns = (...argv: string[]): NetCommand => ({ argv, inNetns: true });

/** The iptables rules of the port-forward path (`-A` to add, `-D` to delete). */
function portForwardRules(op: '-A' | '-D', tap: string): NetCommand[] {
  const { host, guest } = PORT_FORWARD_LINK;
  const comment = ['-m', 'comment', '--comment', IPTABLES_COMMENT];
  return [
    ns('iptables', '-w', '-t', 'nat', op, 'OUTPUT', '-o', 'lo', '-d', '127.0.0.1/32', '-p', 'tcp', ...comment, '-j', 'DNAT', '--to-destination', guest),
    ns('iptables', '-w', '-t', 'nat', op, 'POSTROUTING', '-o', tap, '-s', '127.0.0.1/32', ...comment, '-j', 'SNAT', '--to-source', host),
  ];
}

/**
 * Moves the tap (created by QEMU in the host's namespace, held open by it) into the pod's namespace
 * and connects it to the veth both ways, plus the port-forward link.
 */
export function connectCommands(l: TapLink, netnsPath: string): NetCommand[] {
  const veth = checkIfName(l.veth, 'veth');
  const tap = checkIfName(l.tap, 'tap');
  if (!Number.isInteger(l.mtu) || l.mtu < 68 || l.mtu > 65535) throw new RangeError(`MTU ${l.mtu} is out of range 68-65535`);
  if (!netnsPath.startsWith('/')) throw new RangeError(`network namespace path ${JSON.stringify(netnsPath)} is not absolute`);
  const { host, prefixLen } = PORT_FORWARD_LINK;
  const redirect = (from: string, to: string): NetCommand =>
    ns('tc', 'filter', 'add', 'dev', from, 'parent', 'ffff:', 'protocol', 'all', 'prio', String(REDIRECT_PRIO), 'u32', 'match', 'u8', '0', '0', 'action', 'mirred', 'egress', 'redirect', 'dev', to);
  return [
    { argv: ['ip', 'link', 'set', 'dev', tap, 'netns', netnsPath], inNetns: false },
    ns('ip', 'link', 'set', 'dev', tap, 'mtu', String(l.mtu), 'up'),
    ns('ip', 'addr', 'add', `${host}/${prefixLen}`, 'dev', tap),
    ns('tc', 'qdisc', 'add', 'dev', tap, 'ingress'),
    // the guest's packets for the namespace's end of the port-forward link, and its ARP for it, stay here
    ns('tc', 'filter', 'add', 'dev', tap, 'parent', 'ffff:', 'protocol', 'ip', 'prio', '1', 'u32', 'match', 'ip', 'dst', `${host}/32`, 'flowid', 'ffff:1'),
    ns('tc', 'filter', 'add', 'dev', tap, 'parent', 'ffff:', 'protocol', 'arp', 'prio', '2', 'u32', 'match', 'u32', ipv4Hex(host), '0xffffffff', 'at', '24', 'flowid', 'ffff:1'),
    redirect(tap, veth),
    ns('tc', 'qdisc', 'add', 'dev', veth, 'ingress'),
    redirect(veth, tap),
    ns('sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=1'),
    ...portForwardRules('-A', tap),
  ];
}

/**
 * Undoes connectCommands inside the namespace (each step on its own: one that finds nothing to
 * undo does not stop the rest). The tap itself goes with QEMU (it is not persistent).
 */
export function disconnectCommands(l: Pick<TapLink, 'veth' | 'tap'>): NetCommand[] {
  const veth = checkIfName(l.veth, 'veth');
  const tap = checkIfName(l.tap, 'tap');
  return [
    ...portForwardRules('-D', tap),
    ns('sysctl', '-q', '-w', 'net.ipv4.conf.all.route_localnet=0'),
    ns('tc', 'qdisc', 'del', 'dev', veth, 'ingress'),
    ns('ip', 'link', 'del', 'dev', tap),
  ];
}
