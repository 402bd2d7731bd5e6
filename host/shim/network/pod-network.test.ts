import { test } from 'node:test';
import assert from 'node:assert/strict';
import { silentLogger } from '../../../shared/log/logger.js';
import { isCocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { IPFamily } from '../../../shared/gen/kata/types_pb.js';
import type { AgentApi } from '../agent.js';
import { PodNetwork, scanPodNetwork, tapName, type NetRunner } from './pod-network.js';
import { podNetnsPath } from './index.js';

const NS = '/run/containerd/netns/cni-abc';
const OUT: Record<string, string> = {
  'ip -j -d addr show': '[{"ifname":"eth0","link_type":"ether","mtu":1500,"address":"0a:58:0a:66:32:07","linkinfo":{"info_kind":"veth"},"addr_info":[{"family":"inet","local":"10.102.50.7","prefixlen":24,"scope":"global"}]}]',
  'ip -j -4 route show': '[{"dst":"default","gateway":"10.102.50.1","dev":"eth0","flags":[]},{"dst":"10.102.50.0/24","dev":"eth0","scope":"link","prefsrc":"10.102.50.7","flags":[]}]',
  'ip -j -6 route show': '[]',
  'ip -j neigh show nud permanent': '[]',
};

function recorder(fail?: RegExp): { run: NetRunner; calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    run: (argv, netns) => {
      const line = `${netns ? `[${netns}] ` : ''}${argv.join(' ')}`;
      calls.push(line);
      if (fail?.test(line)) return Promise.reject(new Error(`${argv.join(' ')} failed: Cannot find device`));
      return Promise.resolve(OUT[argv.join(' ')] ?? '');
    },
  };
}

test('podNetnsPath: the network namespace path of the OCI spec; none for ctr run; a relative one is refused', () => {
  assert.equal(podNetnsPath({ linux: { namespaces: [{ type: 'pid' }, { type: 'network', path: NS }] } }), NS);
  assert.equal(podNetnsPath({ linux: { namespaces: [{ type: 'network' }] } }), undefined);
  assert.throws(() => podNetnsPath({ linux: { namespaces: [{ type: 'network', path: 'netns' }] } }), (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument) && /"netns" is not an absolute path/.test((e as Error).message));
});

test('scan, connect, configure the guest, disconnect: the commands in order and the agent requests', async () => {
  const r = recorder();
  const scan = await scanPodNetwork(NS, r.run);
  assert.equal(scan.iface.mac, '0a:58:0a:66:32:07');
  const net = new PodNetwork({ sandboxId: 'sb1', scan, logger: silentLogger(), run: r.run });
  assert.equal(net.tap, tapName('sb1'));
  assert.match(net.tap, /^cc[0-9a-f]{12}$/);
  assert.deepEqual(net.nic, { tap: net.tap, mac: '0a:58:0a:66:32:07' });
  r.calls.length = 0;
  await net.connect();
  assert.equal(r.calls[0], `ip link show dev ${net.tap}`, 'waits for QEMU to create the tap');
  assert.equal(r.calls[1], `ip link set dev ${net.tap} netns ${NS}`);
  assert.ok(r.calls.slice(2).every((l) => l.startsWith(`[${NS}] `)));
  const seen: Record<string, unknown> = {};
  const agent = {
    updateInterface: (req: unknown) => ((seen.iface = req), Promise.resolve({})),
    updateRoutes: (req: unknown) => ((seen.routes = req), Promise.resolve({})),
    addARPNeighbors: () => Promise.reject(new Error('not called without neighbours')),
  } as unknown as AgentApi;
  await net.configureGuest(agent, 1000);
  assert.deepEqual(seen.iface, {
    interface: {
      device: 'eth0', name: 'eth0', hwAddr: '0a:58:0a:66:32:07', mtu: 1500n,
      IPAddresses: [{ family: IPFamily.v4, address: '10.102.50.7', mask: '24' }, { family: IPFamily.v4, address: '169.254.99.2', mask: '30' }],
    },
  });
  assert.deepEqual(seen.routes, {
    routes: {
      Routes: [
        { dest: '', gateway: '10.102.50.1', device: 'eth0', source: '', scope: 0, family: IPFamily.v4, flags: 0 },
        { dest: '10.102.50.0/24', gateway: '', device: 'eth0', source: '10.102.50.7', scope: 253, family: IPFamily.v4, flags: 0 },
      ],
    },
  });
  r.calls.length = 0;
  await net.disconnect();
  assert.ok(r.calls.includes(`[${NS}] tc qdisc del dev eth0 ingress`));
  r.calls.length = 0;
  await net.disconnect();
  assert.deepEqual(r.calls, [], 'a second disconnect does nothing');
});

test('a guest refusal names the RPC', async () => {
  const r = recorder();
  const net = new PodNetwork({ sandboxId: 'sb2', scan: await scanPodNetwork(NS, r.run), logger: silentLogger(), run: r.run });
  const agent = { updateInterface: () => Promise.reject(new Error('policy says no')) } as unknown as AgentApi;
  await assert.rejects(net.configureGuest(agent, 1000), (e: unknown) => isCocoletError(e) && e.context.rpc === 'UpdateInterface' && /UpdateInterface failed: policy says no/.test((e as Error).message));
});

test('connect: a VM that exits before creating its tap is an error naming the tap', async () => {
  const r = recorder(/ip link show dev/);
  const net = new PodNetwork({ sandboxId: 'sb3', scan: await scanPodNetwork(NS, r.run), logger: silentLogger(), run: r.run });
  await assert.rejects(net.connect(() => true), (e: unknown) => isCocoletError(e, ErrorCode.VmFailed) && (e as Error).message.includes(`before it created its tap ${net.tap}`));
});

test('scan: a relative namespace path is refused before anything runs', async () => {
  const r = recorder();
  await assert.rejects(scanPodNetwork('x', r.run), /is not absolute/);
  assert.deepEqual(r.calls, []);
});
