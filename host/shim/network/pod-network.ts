/**
 * A VM sandbox's pod network, as Kata's runtime builds it ("tcfilter"):
 *
 *   scan()            read the pod's namespace (containerd's CRI made it, CNI filled it): the one
 *                     Ethernet interface with an address, its routes and permanent neighbours
 *   nic               what QEMU attaches: a tap of this name (QEMU creates it, non-persistent, in the
 *                     host's namespace, so QEMU itself and its user-mode network stay there) as a
 *                     virtio-net NIC with the veth's MAC
 *   connect()         once QEMU runs: move the tap into the pod's namespace, redirect veth ⇄ tap
 *   configureGuest()  UpdateInterface, UpdateRoutes, AddARPNeighbors through the agent
 *   disconnect()      remove the qdiscs, filters and rules (the tap goes with QEMU; the namespace is
 *                     containerd's to delete, after CNI's DEL)
 *
 * Commands run through a NetRunner (`nsenter --net=<path>` for the namespace's side); tests pass a
 * recording one.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import type { Logger } from '../../../shared/log/logger.js';
import { CocoletError, ErrorCode, isCocoletError } from '../../../shared/errors/errors.js';
import { delay } from '../../../shared/lifecycle/disposables.js';
import type { AgentApi } from '../agent.js';
import { parseAddrShow, parseNeighShow, parseRouteShow, podInterface, type PodInterface, type PodNeighbor, type PodRoute } from './iproute.js';
import { connectCommands, disconnectCommands, type NetCommand } from './tcfilter.js';
import { interfaceRequest, neighborsRequest, routesRequest } from './guest-requests.js';

/** Runs one command (in the pod's namespace when `netns` is given) and answers its stdout. */
export type NetRunner = (argv: string[], netns?: string) => Promise<string>;

/** How long one ip / tc / iptables command may take. */
export const NET_COMMAND_TIMEOUT_MS = 10_000;
/** How long QEMU has to create the tap after its agent socket appeared. */
export const TAP_WAIT_MS = 15_000;

export const defaultNetRunner: NetRunner = (argv, netns) =>
  new Promise((resolve, reject) => {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, '--', ...argv]] : [argv[0]!, argv.slice(1)];
    execFile(cmd, args, { timeout: NET_COMMAND_TIMEOUT_MS, encoding: 'utf8', maxBuffer: 4 << 20 }, (err, stdout, stderr) => {
      if (err) {
        const why = stderr.trim().split('\n').pop() || err.message;
        reject(new CocoletError(ErrorCode.RuntimeFailed, `${argv.join(' ')}${netns ? ` (in ${netns})` : ''} failed: ${why}`, { cause: err }));
      } else resolve(stdout);
    });
  });

/** The tap's name: `cc` + 12 hex digits of the sandbox id's SHA-256 (unique per sandbox, 14 characters). */
export function tapName(sandboxId: string): string {
  return `cc${createHash('sha256').update(sandboxId).digest('hex').slice(0, 12)}`;
}

export interface PodNetworkScan {
  netnsPath: string;
  iface: PodInterface;
  routes: PodRoute[];
  neighbors: PodNeighbor[];
}

/** Reads the pod's namespace; refuses one without exactly one addressed Ethernet interface. */
export async function scanPodNetwork(netnsPath: string, run: NetRunner = defaultNetRunner): Promise<PodNetworkScan> {
  if (!netnsPath.startsWith('/')) throw new CocoletError(ErrorCode.InvalidArgument, `network namespace path ${JSON.stringify(netnsPath)} is not absolute`);
  const [addrs, r4, r6, neigh] = await Promise.all([
    run(['ip', '-j', '-d', 'addr', 'show'], netnsPath),
    run(['ip', '-j', '-4', 'route', 'show'], netnsPath),
    run(['ip', '-j', '-6', 'route', 'show'], netnsPath),
    run(['ip', '-j', 'neigh', 'show', 'nud', 'permanent'], netnsPath),
  ]);
  const iface = podInterface(parseAddrShow(addrs));
  return { netnsPath, iface, routes: [...parseRouteShow(r4, 4), ...parseRouteShow(r6, 6)], neighbors: parseNeighShow(neigh) };
}

export interface PodNetworkOptions {
  sandboxId: string;
  scan: PodNetworkScan;
  logger: Logger;
  run?: NetRunner;
}

export class PodNetwork {
  readonly tap: string;
  private connected = false;
  private readonly run: NetRunner;
  private readonly log: Logger;

  constructor(private readonly o: PodNetworkOptions) {
    this.tap = tapName(o.sandboxId);
    this.run = o.run ?? defaultNetRunner;
    this.log = o.logger;
  }

  get scan(): PodNetworkScan {
    return this.o.scan;
  }

  /** The NIC QEMU attaches (tap by name, the veth's MAC). */
  get nic(): { tap: string; mac: string } {
    return { tap: this.tap, mac: this.o.scan.iface.mac };
  }

  private exec(c: NetCommand): Promise<string> {
    return this.run(c.argv, c.inNetns ? this.o.scan.netnsPath : undefined);
  }

  /** Waits (bounded) for QEMU to create the tap in the host's namespace. */
  private async waitForTap(vmGone: () => boolean): Promise<void> {
    const deadline = Date.now() + TAP_WAIT_MS;
    for (;;) {
      try {
        await this.run(['ip', 'link', 'show', 'dev', this.tap]);
        return;
      } catch (e) {
        if (vmGone()) throw new CocoletError(ErrorCode.VmFailed, `the VM exited before it created its tap ${this.tap}`, { cause: e });
        if (Date.now() > deadline) throw new CocoletError(ErrorCode.VmFailed, `the VM did not create its tap ${this.tap} within ${TAP_WAIT_MS} ms`, { cause: e });
      }
      await delay(20);
    }
  }

  /** Moves QEMU's tap into the pod's namespace and connects it to the veth (undone by disconnect, also on failure). */
  async connect(vmGone: () => boolean = () => false): Promise<void> {
    await this.waitForTap(vmGone);
    this.connected = true;
    const { iface } = this.o.scan;
    for (const c of connectCommands({ veth: iface.name, tap: this.tap, mtu: iface.mtu }, this.o.scan.netnsPath)) await this.exec(c);
    this.log.info({ netns: this.o.scan.netnsPath, veth: iface.name, tap: this.tap, mac: iface.mac, addresses: iface.addresses.map((a) => `${a.address}/${a.prefixLen}`) }, 'pod network connected to the VM (tc mirred veth <-> tap)');
  }

  /** Gives the guest the pod's interface, routes and neighbours; a refusal names the request. */
  async configureGuest(agent: AgentApi, timeoutMs: number): Promise<void> {
    const { iface, routes, neighbors } = this.o.scan;
    const step = async (rpc: string, call: () => Promise<unknown>): Promise<void> => {
      try {
        await call();
      } catch (e) {
        const why = (e as Error).message;
        throw isCocoletError(e) ? e.withContext({ rpc }) : new CocoletError(ErrorCode.RuntimeFailed, `${rpc} failed: ${why}`, { cause: e, context: { rpc } });
      }
    };
    await step('UpdateInterface', () => agent.updateInterface(interfaceRequest(iface), { timeoutMs }));
    const r = routesRequest(iface, routes);
    await step('UpdateRoutes', () => agent.updateRoutes(r, { timeoutMs }));
    const n = neighborsRequest(iface, neighbors);
    if (n.neighbors?.ARPNeighbors?.length) await step('AddARPNeighbors', () => agent.addARPNeighbors(n, { timeoutMs }));
    this.log.info({ routes: r.routes?.Routes?.length ?? 0, neighbors: n.neighbors?.ARPNeighbors?.length ?? 0 }, 'guest network configured');
  }

  /** Removes what connect added (each step on its own; idempotent). */
  async disconnect(): Promise<void> {
    if (!this.connected) return;
    this.connected = false;
    const left: string[] = [];
    for (const c of disconnectCommands({ veth: this.o.scan.iface.name, tap: this.tap })) {
      await this.exec(c).catch((e: unknown) => left.push((e as Error).message));
    }
    // the tap is usually gone with QEMU already: its "Cannot find device" is expected
    const real = left.filter((m) => !/ip link del dev .*(Cannot find device|does not exist)/.test(m));
    if (real.length) this.log.warn({ netns: this.o.scan.netnsPath, errors: real }, 'pod network teardown left something');
    else this.log.info({ netns: this.o.scan.netnsPath, tap: this.tap }, 'pod network disconnected');
  }
}
