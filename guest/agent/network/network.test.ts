import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { create } from '@bufbuild/protobuf';
import pino from 'pino';
import { isCocoletError, ErrorCode } from '../../../shared/errors/index.js';
import { AddARPNeighborsRequestSchema, UpdateInterfaceRequestSchema, UpdateRoutesRequestSchema } from '../../../shared/gen/kata/agent_pb.js';
import { GuestNetwork } from './network.js';

function fakeSys(nics: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'ccnet-'));
  for (const [n, mac] of Object.entries(nics)) {
    mkdirSync(join(dir, n));
    writeFileSync(join(dir, n, 'address'), `${mac}\n`);
    writeFileSync(join(dir, n, 'mtu'), '1500\n');
  }
  return dir;
}

function setup(processMode = false) {
  const sys = fakeSys({ lo: '00:00:00:00:00:00', user0: '52:54:00:12:34:56', eth1: '0a:58:0a:66:32:07' });
  const calls: string[] = [];
  const net = new GuestNetwork({ logger: pino({ level: 'silent' }), processMode, sysClassNet: sys, run: (argv) => (calls.push(argv.join(' ')), Promise.resolve('')) });
  return { net, calls, done: () => rmSync(sys, { recursive: true, force: true }) };
}

test('UpdateInterface finds the NIC by MAC and renames it; a MAC no NIC has is NOT_FOUND; a taken name is refused', async () => {
  const { net, calls, done } = setup();
  try {
    await net.updateInterface(create(UpdateInterfaceRequestSchema, { interface: { name: 'eth0', hwAddr: '0A:58:0A:66:32:07', mtu: 1500n, IPAddresses: [{ address: '10.102.50.7', mask: '24' }] } }));
    assert.ok(calls.includes('ip link set dev eth1 name eth0'));
    assert.ok(calls.includes('ip addr add 10.102.50.7/24 dev eth0'));
    await assert.rejects(net.updateInterface(create(UpdateInterfaceRequestSchema, { interface: { name: 'eth0', hwAddr: '02:00:00:00:00:01', mtu: 1500n } })), (e: unknown) => isCocoletError(e, ErrorCode.NotFound));
    await assert.rejects(net.updateInterface(create(UpdateInterfaceRequestSchema, { interface: { name: 'user0', hwAddr: '0a:58:0a:66:32:07', mtu: 1500n } })), (e: unknown) => isCocoletError(e, ErrorCode.AlreadyExists));
  } finally {
    done();
  }
});

test('UpdateRoutes adds link routes before gateway routes; AddARPNeighbors uses arp -s', async () => {
  const { net, calls, done } = setup();
  try {
    await net.updateRoutes(create(UpdateRoutesRequestSchema, { routes: { Routes: [{ dest: '', gateway: '10.102.50.1', device: 'eth0' }, { dest: '10.102.50.0/24', device: 'eth0', scope: 253, source: '10.102.50.7' }] } }));
    const routeCalls = calls.filter((c) => c.includes('route replace'));
    assert.deepEqual(routeCalls, ['ip route replace 10.102.50.0/24 dev eth0 src 10.102.50.7 scope link', 'ip route replace default via 10.102.50.1 dev eth0']);
    await net.addArpNeighbors(create(AddARPNeighborsRequestSchema, { neighbors: { ARPNeighbors: [{ toIPAddress: { address: '10.102.50.9' }, device: 'eth0', lladdr: '02:00:00:00:00:09' }] } }));
    assert.ok(calls.includes('arp -i eth0 -s 10.102.50.9 02:00:00:00:00:09'));
  } finally {
    done();
  }
});

test('the process agent (on the host, in the pod namespace CNI configured) changes nothing', async () => {
  const { net, calls, done } = setup(true);
  try {
    await assert.rejects(net.updateRoutes(create(UpdateRoutesRequestSchema, {})), (e: unknown) => isCocoletError(e, ErrorCode.FailedPrecondition) && /process agent/.test((e as Error).message));
    assert.deepEqual(calls, []);
  } finally {
    done();
  }
});
