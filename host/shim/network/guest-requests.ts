/**
 * The Kata agent requests that give the guest the pod's network (pure; unit-tested): the NIC with
 * the veth's MAC gets the veth's name, MTU and addresses (plus the guest's end of the port-forward
 * link, tcfilter.ts), then the namespace's routes through that interface, then its permanent
 * neighbours. Field conventions are Kata's: `mask` is the prefix length in decimal, a default
 * route has an empty `dest`, `scope` and `flags` are rtnetlink's numbers.
 */
import type { MessageInitShape } from '@bufbuild/protobuf';
import type { AddARPNeighborsRequestSchema, UpdateInterfaceRequestSchema, UpdateRoutesRequestSchema } from '../../../shared/gen/kata/agent_pb.js';
import { IPFamily } from '../../../shared/gen/kata/types_pb.js';
import type { PodInterface, PodNeighbor, PodRoute } from './iproute.js';
import { PORT_FORWARD_LINK } from './tcfilter.js';

/** rtnetlink's NUD_PERMANENT (the state of a static neighbour). */
export const NUD_PERMANENT = 0x80;

const family = (f: 4 | 6): IPFamily => (f === 4 ? IPFamily.v4 : IPFamily.v6);

export function interfaceRequest(iface: PodInterface): MessageInitShape<typeof UpdateInterfaceRequestSchema> {
  return {
    interface: {
      device: iface.name,
      name: iface.name,
      hwAddr: iface.mac,
      mtu: BigInt(iface.mtu),
      IPAddresses: [
        ...iface.addresses.map((a) => ({ family: family(a.family), address: a.address, mask: String(a.prefixLen) })),
        { family: IPFamily.v4, address: PORT_FORWARD_LINK.guest, mask: String(PORT_FORWARD_LINK.prefixLen) },
      ],
    },
  };
}

/** Routes through the pod's interface only (the namespace has no others that matter to the guest). */
export function routesRequest(iface: PodInterface, routes: PodRoute[]): MessageInitShape<typeof UpdateRoutesRequestSchema> {
  return {
    routes: {
      Routes: routes.filter((r) => r.device === iface.name).map((r) => ({
        dest: r.dest === 'default' ? '' : r.dest,
        gateway: r.gateway ?? '',
        device: r.device,
        source: r.source ?? '',
        scope: r.scope,
        family: family(r.family),
        flags: r.flags,
      })),
    },
  };
}

export function neighborsRequest(iface: PodInterface, neighbors: PodNeighbor[]): MessageInitShape<typeof AddARPNeighborsRequestSchema> {
  return {
    neighbors: {
      ARPNeighbors: neighbors.filter((n) => n.device === iface.name && n.family === 4).map((n) => ({
        toIPAddress: { family: IPFamily.v4, address: n.ip, mask: '32' },
        device: n.device,
        lladdr: n.mac,
        state: NUD_PERMANENT,
      })),
    },
  };
}
