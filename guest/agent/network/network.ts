/**
 * The guest side of pod networking (Kata agent API): UpdateInterface, UpdateRoutes,
 * AddARPNeighbors, ListInterfaces, ListRoutes, done with busybox `ip` / `arp` (commands.ts).
 * The containers share the guest's network namespace, so what is set here is what they see.
 *
 * Semantics (Kata's where they matter to a shim): UpdateInterface finds the NIC by `hwAddr`,
 * renames it to `name`, sets MTU, replaces its addresses and brings it up, answering the interface
 * as configured; UpdateRoutes adds or replaces each route (routes are never removed: the shim
 * configures a sandbox once) and answers the guest's routes; AddARPNeighbors adds static IPv4
 * neighbours. The policy gate has already decided the request (guest/policy/network.ts).
 *
 * The process agent (NOT confidential) runs in the pod's own namespace on the host, set up by CNI:
 * it refuses to change it.
 */
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { CocoletError, ErrorCode } from '../../../shared/errors/index.js';
import type { AddARPNeighborsRequest, UpdateInterfaceRequest, UpdateRoutesRequest } from '../../../shared/gen/kata/agent_pb.js';
import { IPFamily } from '../../../shared/gen/kata/types_pb.js';
import {
  IFF_NOARP, RTNH_F_ONLINK, checkIp, checkMac, checkPrefix, interfaceCommands, neighborCommand, parseAddrLines, parseRouteLines, routeCommand,
  type ListedRoute,
} from './commands.js';

export type CommandRunner = (argv: string[]) => Promise<string>;

export const NET_COMMAND_TIMEOUT_MS = 10_000;

const defaultRunner: CommandRunner = (argv) =>
  new Promise((resolve, reject) => {
    execFile(argv[0]!, argv.slice(1), { timeout: NET_COMMAND_TIMEOUT_MS, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new CocoletError(ErrorCode.RuntimeFailed, `${argv.join(' ')} failed: ${stderr.trim().split('\n').pop() || err.message}`, { cause: err }));
      else resolve(stdout);
    });
  });

export interface ListedInterface {
  device: string;
  name: string;
  hwAddr: string;
  mtu: bigint;
  IPAddresses: { family: IPFamily; address: string; mask: string }[];
  rawFlags: number;
}

export interface GuestNetworkOptions {
  logger: Logger;
  /** The agent runs on the host (process hypervisor): changes are refused. */
  processMode: boolean;
  run?: CommandRunner;
  /** Where the NICs are listed (`/sys/class/net`; tests pass a folder). */
  sysClassNet?: string;
}

const family = (f: IPFamily): 4 | 6 => (f === IPFamily.v6 ? 6 : 4);

export class GuestNetwork {
  private readonly run: CommandRunner;
  private readonly sys: string;

  constructor(private readonly o: GuestNetworkOptions) {
    this.run = o.run ?? defaultRunner;
    this.sys = o.sysClassNet ?? '/sys/class/net';
  }

  private refuseOnHost(rpc: string): void {
    if (this.o.processMode) {
      throw new CocoletError(ErrorCode.FailedPrecondition, `${rpc}: the process agent runs in the pod's own network namespace on the host, which CNI configured; it changes nothing there`, { context: { rpc } });
    }
  }

  /** NIC name → MAC, from sysfs. */
  private nics(): Map<string, string> {
    const out = new Map<string, string>();
    for (const n of readdirSync(this.sys)) {
      try {
        out.set(n, readFileSync(`${this.sys}/${n}/address`, 'utf8').trim().toLowerCase());
      } catch {
        /* gone meanwhile */
      }
    }
    return out;
  }

  async updateInterface(req: UpdateInterfaceRequest): Promise<ListedInterface> {
    this.refuseOnHost('UpdateInterface');
    const i = req.interface;
    if (!i) throw new CocoletError(ErrorCode.InvalidArgument, 'UpdateInterface: no interface in the request');
    const mac = checkMac(i.hwAddr, 'interface hwAddr');
    if (i.rawFlags & ~IFF_NOARP) throw new CocoletError(ErrorCode.InvalidArgument, `UpdateInterface: raw_flags 0x${i.rawFlags.toString(16)}: only IFF_NOARP (0x80) is supported`);
    const nics = this.nics();
    const current = [...nics].find(([, m]) => m === mac)?.[0];
    if (!current) throw new CocoletError(ErrorCode.NotFound, `UpdateInterface: no NIC with MAC ${mac} in the guest`);
    const name = i.name || current;
    if (name !== current && nics.has(name)) throw new CocoletError(ErrorCode.AlreadyExists, `UpdateInterface: the name ${name} is taken by another NIC`);
    const addresses = i.IPAddresses.map((a) => {
      const f = checkIp(a.address, 'interface address', family(a.family));
      return { cidr: `${a.address}/${checkPrefix(a.mask, f, `interface address ${a.address}`)}`, family: f };
    });
    const mtu = Number(i.mtu);
    for (const argv of interfaceCommands({ current, name, mtu, addresses, noArp: (i.rawFlags & IFF_NOARP) !== 0 })) await this.run(argv);
    this.o.logger.info({ nic: current, name, mac, mtu, addresses: addresses.map((a) => a.cidr) }, 'guest interface configured');
    return (await this.listInterfaces()).find((x) => x.name === name) ?? { device: name, name, hwAddr: mac, mtu: BigInt(mtu), IPAddresses: [], rawFlags: 0 };
  }

  async updateRoutes(req: UpdateRoutesRequest): Promise<ListedRoute[]> {
    this.refuseOnHost('UpdateRoutes');
    const routes = req.routes?.Routes ?? [];
    const argvs = routes.map((r) => routeCommand({
      dest: r.dest === '' || r.dest === 'default' ? 'default' : r.dest,
      ...(r.gateway ? { gateway: r.gateway } : {}),
      device: r.device,
      ...(r.source ? { source: r.source } : {}),
      scope: r.scope,
      family: family(r.family),
      onlink: (r.flags & RTNH_F_ONLINK) !== 0,
    }));
    // routes without a gateway first: a gateway must be reachable when its route is added
    const order = [...argvs.keys()].sort((a, b) => Number(Boolean(routes[a]!.gateway)) - Number(Boolean(routes[b]!.gateway)));
    for (const k of order) await this.run(argvs[k]!);
    this.o.logger.info({ routes: routes.length }, 'guest routes configured');
    return this.listRoutes();
  }

  async addArpNeighbors(req: AddARPNeighborsRequest): Promise<void> {
    this.refuseOnHost('AddARPNeighbors');
    const list = req.neighbors?.ARPNeighbors ?? [];
    const argvs = list.map((n) => {
      if (!n.toIPAddress) throw new CocoletError(ErrorCode.InvalidArgument, 'AddARPNeighbors: a neighbour has no address');
      if (n.toIPAddress.family === IPFamily.v6) throw new CocoletError(ErrorCode.InvalidArgument, `AddARPNeighbors: ${n.toIPAddress.address} is IPv6; only IPv4 neighbours are supported`);
      return neighborCommand({ ip: n.toIPAddress.address, mac: n.lladdr, device: n.device });
    });
    for (const argv of argvs) await this.run(argv);
    this.o.logger.info({ neighbours: list.length }, 'guest neighbours added');
  }

  async listInterfaces(): Promise<ListedInterface[]> {
    const addrs = parseAddrLines(await this.run(['ip', '-o', 'addr', 'show']));
    const out: ListedInterface[] = [];
    for (const [name, mac] of this.nics()) {
      let mtu = 0n;
      try {
        mtu = BigInt(readFileSync(`${this.sys}/${name}/mtu`, 'utf8').trim());
      } catch {
        /* gone meanwhile */
      }
      out.push({
        device: name, name, hwAddr: mac, mtu, rawFlags: 0,
        IPAddresses: addrs.filter((a) => a.device === name).map((a) => ({ family: a.family === 6 ? IPFamily.v6 : IPFamily.v4, address: a.address, mask: String(a.prefixLen) })),
      });
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }

  async listRoutes(): Promise<ListedRoute[]> {
    const [v4, v6] = await Promise.all([this.run(['ip', 'route', 'show']), this.run(['ip', '-f', 'inet6', 'route', 'show'])]);
    return [...parseRouteLines(v4, 4), ...parseRouteLines(v6, 6)];
  }
}

/** A listed route as the Kata `Route` message. */
export function routeMessage(r: ListedRoute): { dest: string; gateway: string; device: string; source: string; scope: number; family: IPFamily; flags: number } {
  return { dest: r.dest, gateway: r.gateway, device: r.device, source: r.source, scope: r.scope, family: r.family === 6 ? IPFamily.v6 : IPFamily.v4, flags: r.flags };
}
