import { test } from 'node:test';
import assert from 'node:assert/strict';
import { create } from '@bufbuild/protobuf';
import { AddARPNeighborsRequestSchema, UpdateInterfaceRequestSchema, UpdateRoutesRequestSchema } from '../../shared/gen/kata/agent_pb.js';
import { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY } from './defaults.js';
import { PolicyEngine } from './engine.js';

const iface = (o: { name?: string; address?: string; rawFlags?: number }) =>
  create(UpdateInterfaceRequestSchema, { interface: { name: o.name ?? 'eth0', device: o.name ?? 'eth0', hwAddr: '0a:58:0a:66:32:07', mtu: 1500n, rawFlags: o.rawFlags ?? 0, IPAddresses: [{ address: o.address ?? '10.102.50.7', mask: '24' }] } });
const routes = (r: { dest?: string; device?: string; source?: string; gateway?: string }) =>
  create(UpdateRoutesRequestSchema, { routes: { Routes: [{ dest: r.dest ?? '', device: r.device ?? 'eth0', source: r.source ?? '', gateway: r.gateway ?? '10.102.50.1' }] } });
const neigh = (ip: string, device = 'eth0') => create(AddARPNeighborsRequestSchema, { neighbors: { ARPNeighbors: [{ toIPAddress: { address: ip, mask: '32' }, device, lladdr: '02:00:00:00:00:09' }] } });

const cases: { name: string; method: string; request: unknown; allowed: boolean; rule?: string }[] = [
  { name: 'the pod interface', method: 'UpdateInterface', request: iface({}), allowed: true },
  { name: 'IFF_NOARP', method: 'UpdateInterface', request: iface({ rawFlags: 0x80 }), allowed: true },
  { name: 'renaming the loopback interface', method: 'UpdateInterface', request: iface({ name: 'lo' }), allowed: false, rule: 'UpdateInterface.name' },
  { name: 'a loopback address on a NIC', method: 'UpdateInterface', request: iface({ address: '127.0.0.2' }), allowed: false, rule: 'UpdateInterface.IPAddresses' },
  { name: 'IFF_PROMISC', method: 'UpdateInterface', request: iface({ rawFlags: 0x100 }), allowed: false, rule: 'UpdateInterface.raw_flags' },
  { name: 'the default route', method: 'UpdateRoutes', request: routes({}), allowed: true },
  { name: 'a subnet route', method: 'UpdateRoutes', request: routes({ dest: '10.102.50.0/24', gateway: '' }), allowed: true },
  { name: 'loopback traffic sent out of the guest', method: 'UpdateRoutes', request: routes({ dest: '127.0.0.0/8' }), allowed: false, rule: 'UpdateRoutes.dest' },
  { name: 'a host route for 127.0.0.1', method: 'UpdateRoutes', request: routes({ dest: '127.0.0.1' }), allowed: false, rule: 'UpdateRoutes.dest' },
  { name: 'a route through lo', method: 'UpdateRoutes', request: routes({ device: 'lo' }), allowed: false, rule: 'UpdateRoutes.device' },
  { name: 'a loopback source', method: 'UpdateRoutes', request: routes({ source: '127.0.0.1' }), allowed: false, rule: 'UpdateRoutes.source' },
  { name: 'a static neighbour', method: 'AddARPNeighbors', request: neigh('10.102.50.9'), allowed: true },
  { name: 'a neighbour for a loopback address', method: 'AddARPNeighbors', request: neigh('127.0.0.1'), allowed: false, rule: 'AddARPNeighbors.toIPAddress' },
];

for (const [label, doc] of [['confidential default', CONFIDENTIAL_DEFAULT_POLICY], ['permissive (allow by default)', PERMISSIVE_POLICY]] as const) {
  const engine = new PolicyEngine(doc);
  for (const tc of cases) {
    test(`${label}: ${tc.method} ${tc.name} is ${tc.allowed ? 'allowed' : 'refused'}`, () => {
      const d = engine.evaluate(tc.method, tc.request);
      assert.equal(d.allowed, tc.allowed, d.reason);
      if (tc.rule) assert.equal(d.rule, tc.rule);
    });
  }
  test(`${label}: ListInterfaces and ListRoutes are allowed`, () => {
    assert.equal(engine.evaluate('ListInterfaces', {}).allowed, true);
    assert.equal(engine.evaluate('ListRoutes', {}).allowed, true);
  });
}

test('a policy that denies UpdateRoutes refuses even a harmless route', () => {
  const engine = new PolicyEngine({ ...CONFIDENTIAL_DEFAULT_POLICY, rules: { ...CONFIDENTIAL_DEFAULT_POLICY.rules, UpdateRoutes: { allow: false } } });
  assert.equal(engine.evaluate('UpdateRoutes', routes({})).allowed, false);
});
