import { test } from 'node:test';
import assert from 'node:assert/strict';
import { connectCommands, disconnectCommands, ipv4Hex, PORT_FORWARD_LINK } from './tcfilter.js';

const NS = '/run/containerd/netns/cni-1234';

test('connect: the tap moves into the namespace, both directions are redirected, the port-forward link is set up', () => {
  const cmds = connectCommands({ veth: 'eth0', tap: 'cc0123456789ab', mtu: 1450 }, NS);
  assert.deepEqual(cmds[0], { argv: ['ip', 'link', 'set', 'dev', 'cc0123456789ab', 'netns', NS], inNetns: false });
  assert.ok(cmds.slice(1).every((c) => c.inNetns), 'everything after the move runs inside the namespace');
  const lines = cmds.map((c) => c.argv.join(' '));
  assert.ok(lines.includes('ip link set dev cc0123456789ab mtu 1450 up'));
  assert.ok(lines.includes('tc qdisc add dev eth0 ingress'));
  assert.ok(lines.includes('tc filter add dev eth0 parent ffff: protocol all prio 49 u32 match u8 0 0 action mirred egress redirect dev cc0123456789ab'));
  assert.ok(lines.includes('tc filter add dev cc0123456789ab parent ffff: protocol all prio 49 u32 match u8 0 0 action mirred egress redirect dev eth0'));
  // the guest's frames for the namespace's end of the link pass before the redirect (lower prio number)
  assert.ok(lines.includes(`tc filter add dev cc0123456789ab parent ffff: protocol ip prio 1 u32 match ip dst ${PORT_FORWARD_LINK.host}/32 flowid ffff:1`));
  assert.ok(lines.includes('tc filter add dev cc0123456789ab parent ffff: protocol arp prio 2 u32 match u32 0xa9fe6301 0xffffffff at 24 flowid ffff:1'));
  assert.ok(lines.includes(`iptables -w -t nat -A OUTPUT -o lo -d 127.0.0.1/32 -p tcp -m comment --comment cocolet-port-forward -j DNAT --to-destination ${PORT_FORWARD_LINK.guest}`));
  assert.ok(lines.includes(`iptables -w -t nat -A POSTROUTING -o cc0123456789ab -s 127.0.0.1/32 -m comment --comment cocolet-port-forward -j SNAT --to-source ${PORT_FORWARD_LINK.host}`));
});

test('disconnect: the same iptables rules deleted, the veth ingress qdisc (and its filter) removed, the tap deleted if still there', () => {
  const lines = disconnectCommands({ veth: 'eth0', tap: 'cc0123456789ab' }).map((c) => c.argv.join(' '));
  const added = connectCommands({ veth: 'eth0', tap: 'cc0123456789ab', mtu: 1500 }, NS).map((c) => c.argv.join(' ')).filter((l) => l.startsWith('iptables'));
  assert.deepEqual(lines.filter((l) => l.startsWith('iptables')), added.map((l) => l.replace(' -A ', ' -D ')));
  assert.ok(lines.includes('tc qdisc del dev eth0 ingress'));
  assert.ok(lines.includes('ip link del dev cc0123456789ab'));
});

const bad: { name: string; run: () => unknown; message: RegExp }[] = [
  { name: 'a veth name that is an option', run: () => connectCommands({ veth: '-all', tap: 'cc1', mtu: 1500 }, NS), message: /interface name "-all"|not a Linux interface name/ },
  { name: 'a tap name with a space', run: () => connectCommands({ veth: 'eth0', tap: 'cc 1', mtu: 1500 }, NS), message: /not a Linux interface name/ },
  { name: 'an MTU of 0', run: () => connectCommands({ veth: 'eth0', tap: 'cc1', mtu: 0 }, NS), message: /MTU 0 is out of range/ },
  { name: 'a relative namespace path', run: () => connectCommands({ veth: 'eth0', tap: 'cc1', mtu: 1500 }, 'netns/x'), message: /is not absolute/ },
];
for (const tc of bad) test(`connect refused: ${tc.name}`, () => assert.throws(tc.run, tc.message));

test('ipv4Hex: the u32 match word of an address', () => {
  assert.equal(ipv4Hex('169.254.99.1'), '0xa9fe6301');
  assert.throws(() => ipv4Hex('1.2.3'), RangeError);
});
