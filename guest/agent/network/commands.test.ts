import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError, ErrorCode } from '../../../shared/errors/index.js';
import { interfaceCommands, neighborCommand, parseAddrLines, parseRouteLines, routeCommand } from './commands.js';

test('interface: down, rename, MTU, addresses replaced, up (busybox ip)', () => {
  assert.deepEqual(interfaceCommands({ current: 'eth1', name: 'eth0', mtu: 1450, noArp: false, addresses: [{ cidr: '10.102.50.7/24', family: 4 }, { cidr: '169.254.99.2/30', family: 4 }] }), [
    ['ip', 'link', 'set', 'dev', 'eth1', 'down'],
    ['ip', 'link', 'set', 'dev', 'eth1', 'name', 'eth0'],
    ['ip', 'link', 'set', 'dev', 'eth0', 'mtu', '1450', 'arp', 'on'],
    ['ip', 'addr', 'flush', 'dev', 'eth0'],
    ['ip', 'addr', 'add', '10.102.50.7/24', 'dev', 'eth0'],
    ['ip', 'addr', 'add', '169.254.99.2/30', 'dev', 'eth0'],
    ['ip', 'link', 'set', 'dev', 'eth0', 'up'],
  ]);
});

const routes: { name: string; route: Parameters<typeof routeCommand>[0]; argv: string }[] = [
  { name: 'default via a gateway', route: { dest: 'default', gateway: '10.102.50.1', device: 'eth0', scope: 0, family: 4, onlink: false }, argv: 'ip route replace default via 10.102.50.1 dev eth0' },
  { name: 'link-scope subnet with a source', route: { dest: '10.102.50.0/24', device: 'eth0', source: '10.102.50.7', scope: 253, family: 4, onlink: false }, argv: 'ip route replace 10.102.50.0/24 dev eth0 src 10.102.50.7 scope link' },
  { name: 'onlink gateway', route: { dest: '10.9.0.0/16', gateway: '10.102.50.254', device: 'eth0', scope: 0, family: 4, onlink: true }, argv: 'ip route replace 10.9.0.0/16 via 10.102.50.254 dev eth0 onlink' },
  { name: 'IPv6 default', route: { dest: 'default', gateway: 'fd00::1', device: 'eth0', scope: 0, family: 6, onlink: false }, argv: 'ip -f inet6 route replace default via fd00::1 dev eth0' },
];
for (const tc of routes) test(`route: ${tc.name}`, () => assert.equal(routeCommand(tc.route).join(' '), tc.argv));

test('neighbour: arp -s on the device', () => {
  assert.deepEqual(neighborCommand({ ip: '10.102.50.9', mac: '02:00:00:00:00:09', device: 'eth0' }), ['arp', '-i', 'eth0', '-s', '10.102.50.9', '02:00:00:00:00:09']);
});

const bad: { name: string; run: () => unknown; message: RegExp }[] = [
  { name: 'a device name that is an option', run: () => routeCommand({ dest: 'default', device: '-x', scope: 0, family: 4, onlink: false }), message: /route device "-x" is not an interface name/ },
  { name: 'a destination that is not a prefix', run: () => routeCommand({ dest: '10.0.0.0/40', device: 'eth0', scope: 0, family: 4, onlink: false }), message: /prefix length "40" is out of range for IPv4/ },
  { name: 'an IPv6 gateway on an IPv4 route', run: () => routeCommand({ dest: 'default', gateway: 'fd00::1', device: 'eth0', scope: 0, family: 4, onlink: false }), message: /route gateway fd00::1 is not IPv4/ },
  { name: 'an unknown scope', run: () => routeCommand({ dest: 'default', device: 'eth0', scope: 7, family: 4, onlink: false }), message: /route scope 7 is not one of/ },
  { name: 'an MTU of 40', run: () => interfaceCommands({ current: 'eth0', name: 'eth0', mtu: 40, noArp: false, addresses: [] }), message: /MTU 40 is out of range/ },
  { name: 'an address with a space', run: () => interfaceCommands({ current: 'eth0', name: 'eth0', mtu: 1500, noArp: false, addresses: [{ cidr: '10.0.0.1/24 dev lo', family: 4 }] }), message: /is not an IP address|prefix length/ },
  { name: 'an IPv6 neighbour', run: () => neighborCommand({ ip: 'fd00::9', mac: '02:00:00:00:00:09', device: 'eth0' }), message: /neighbour address fd00::9 is not IPv4/ },
  { name: 'a MAC with a command in it', run: () => neighborCommand({ ip: '10.0.0.9', mac: '02:00:00:00:00:09;reboot', device: 'eth0' }), message: /neighbour MAC .* is not a MAC address/ },
];
for (const tc of bad) {
  test(`refused before any command: ${tc.name}`, () => assert.throws(tc.run, (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument) && tc.message.test((e as Error).message)));
}

test('busybox ip -o addr show: addresses per device, family, prefix and scope', () => {
  const text = [
    '1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever',
    '2: user0    inet 10.0.2.15/24 scope global user0\\       valid_lft forever preferred_lft forever',
    '3: eth0    inet 10.102.50.7/24 scope global eth0\\       valid_lft forever preferred_lft forever',
    '3: eth0    inet6 fe80::858:aff:fe66:3207/64 scope link \\       valid_lft forever preferred_lft forever',
  ].join('\n');
  assert.deepEqual(parseAddrLines(text).map((a) => `${a.device} ${a.family} ${a.address}/${a.prefixLen} ${a.scope}`), [
    'lo 4 127.0.0.1/8 host', 'user0 4 10.0.2.15/24 global', 'eth0 4 10.102.50.7/24 global', 'eth0 6 fe80::858:aff:fe66:3207/64 link',
  ]);
});

test('busybox ip route show: destinations, gateways, devices, sources, scopes; multicast lines skipped', () => {
  const v4 = 'default via 10.102.50.1 dev eth0 \ndefault via 10.0.2.2 dev user0  metric 1000 \n10.0.2.0/24 dev user0 scope link  src 10.0.2.15 \n10.9.0.0/16 via 10.102.50.254 dev eth0 onlink \n';
  assert.deepEqual(parseRouteLines(v4, 4), [
    { family: 4, dest: '', gateway: '10.102.50.1', device: 'eth0', source: '', scope: 0, flags: 0 },
    { family: 4, dest: '', gateway: '10.0.2.2', device: 'user0', source: '', scope: 0, flags: 0 },
    { family: 4, dest: '10.0.2.0/24', gateway: '', device: 'user0', source: '10.0.2.15', scope: 253, flags: 0 },
    { family: 4, dest: '10.9.0.0/16', gateway: '10.102.50.254', device: 'eth0', source: '', scope: 0, flags: 4 },
  ]);
  assert.deepEqual(parseRouteLines('fe80::/64 dev eth0  metric 256 \nmulticast ff00::/8 dev eth0  metric 256 \n', 6).map((r) => r.dest), ['fe80::/64']);
});
