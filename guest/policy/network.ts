/**
 * Guards on the host's network requests (UpdateInterface, UpdateRoutes, AddARPNeighbors), applied
 * whenever such a request is allowed, by a rule or by the default: requests that would hand the
 * guest's loopback to the host's network are refused whatever the policy says.
 *
 * What a hostile host can and cannot do here. It owns the pod's network: the tap, the veth, the
 * bridge, every packet. Routes and neighbours it sets can send the guest's traffic anywhere,
 * including its key-broker traffic; but so can the wire itself, with or without these requests.
 * What protects secrets is not the route: the key broker's TLS (its certificate pinned in the
 * measured init-data) and attestation, and the workload's own TLS. What only the guest can protect
 * is traffic that must never leave it: loopback (containers of a pod talk over 127.0.0.1). So no
 * request may put a loopback, multicast or unspecified address on a NIC, route a loopback
 * destination or source, touch `lo`, or pin a neighbour for such an address; raw interface flags
 * other than IFF_NOARP are refused. Reading (ListInterfaces, ListRoutes) shows the host only what
 * it configured, plus the user-mode NIC it also provides.
 */
import { isIP } from 'node:net';
import type { AddARPNeighborsRequest, UpdateInterfaceRequest, UpdateRoutesRequest } from '../../shared/gen/kata/agent_pb.js';
import type { Violation } from './container.js';

/** The only raw interface flag a host may set (Kata's default: IFF_NOARP). */
export const ALLOWED_RAW_FLAGS = 0x80;
export const FORBIDDEN_DEVICES: ReadonlySet<string> = new Set(['lo']);

/** The network RPCs these guards decide. */
export const NETWORK_METHODS: ReadonlySet<string> = new Set(['UpdateInterface', 'UpdateRoutes', 'AddARPNeighbors']);

/** Loopback, multicast or unspecified (an address that must never be handed to the host's network). */
export function isReservedAddress(ip: string): boolean {
  const f = isIP(ip);
  if (f === 4) {
    const a = Number(ip.split('.')[0]);
    return a === 127 || a === 0 || (a >= 224 && a <= 239);
  }
  if (f === 6) {
    const x = ip.toLowerCase();
    return x === '::1' || x === '::' || x.startsWith('ff') || /^0*:0*:0*:0*:0*:0*:0*:0*1$/.test(x) || x.startsWith('::ffff:127.');
  }
  return false;
}

/** A route destination (`''`/`default`, an address, address/prefix) that lies in loopback or multicast space. */
function reservedDest(dest: string): boolean {
  if (dest === '' || dest === 'default') return false;
  const [ip = '', len] = dest.split('/');
  const f = isIP(ip);
  if (!f) return false; // malformed: the agent refuses it with InvalidArgument
  const n = len === undefined ? (f === 4 ? 32 : 128) : Number(len);
  if (f === 4) {
    const a = Number(ip.split('.')[0]);
    // a prefix inside 127/8 or 224/4 (a wider one such as 0/0 leaves loopback to the local table)
    return (n >= 8 && a === 127) || (n >= 4 && a >= 224 && a <= 239);
  }
  return (n === 128 && isReservedAddress(ip)) || (n >= 8 && ip.toLowerCase().startsWith('ff'));
}

export function checkUpdateInterface(r: UpdateInterfaceRequest): Violation | undefined {
  const i = r.interface;
  if (!i) return { field: 'UpdateInterface.interface', reason: 'no interface' };
  if (FORBIDDEN_DEVICES.has(i.name) || FORBIDDEN_DEVICES.has(i.device)) return { field: 'UpdateInterface.name', reason: 'the loopback interface may not be changed' };
  if ((i.rawFlags & ~ALLOWED_RAW_FLAGS) !== 0) return { field: 'UpdateInterface.raw_flags', reason: `raw flags 0x${i.rawFlags.toString(16)} beyond IFF_NOARP` };
  const bad = i.IPAddresses.find((a) => isReservedAddress(a.address));
  if (bad) return { field: 'UpdateInterface.IPAddresses', reason: `${bad.address.slice(0, 60)} is a loopback, multicast or unspecified address` };
  return undefined;
}

export function checkUpdateRoutes(r: UpdateRoutesRequest): Violation | undefined {
  for (const route of r.routes?.Routes ?? []) {
    if (FORBIDDEN_DEVICES.has(route.device)) return { field: 'UpdateRoutes.device', reason: 'no route through the loopback interface' };
    if (reservedDest(route.dest)) return { field: 'UpdateRoutes.dest', reason: `destination ${route.dest.slice(0, 60)} is loopback or multicast` };
    if (route.source && isReservedAddress(route.source)) return { field: 'UpdateRoutes.source', reason: `source ${route.source.slice(0, 60)} is a loopback, multicast or unspecified address` };
    if (route.gateway && isReservedAddress(route.gateway)) return { field: 'UpdateRoutes.gateway', reason: `gateway ${route.gateway.slice(0, 60)} is a loopback, multicast or unspecified address` };
  }
  return undefined;
}

export function checkAddArpNeighbors(r: AddARPNeighborsRequest): Violation | undefined {
  for (const n of r.neighbors?.ARPNeighbors ?? []) {
    if (FORBIDDEN_DEVICES.has(n.device)) return { field: 'AddARPNeighbors.device', reason: 'no neighbour on the loopback interface' };
    const ip = n.toIPAddress?.address ?? '';
    if (isReservedAddress(ip)) return { field: 'AddARPNeighbors.toIPAddress', reason: `${ip.slice(0, 60)} is a loopback, multicast or unspecified address` };
  }
  return undefined;
}

/** The guard of one network request (method ∈ NETWORK_METHODS). */
export function checkNetworkRequest(method: string, request: unknown): Violation | undefined {
  if (method === 'UpdateInterface') return checkUpdateInterface(request as UpdateInterfaceRequest);
  if (method === 'UpdateRoutes') return checkUpdateRoutes(request as UpdateRoutesRequest);
  if (method === 'AddARPNeighbors') return checkAddArpNeighbors(request as AddARPNeighborsRequest);
  return undefined;
}
