import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isCocoletError, ErrorCode } from '../../../shared/errors/errors.js';
import { parseAddrShow, parseNeighShow, parseRouteShow, podInterface } from './iproute.js';

// what `ip -j -d addr show` printed in a CNI bridge pod's namespace (iproute2 6.1)
const ADDR = JSON.stringify([
  { ifindex: 1, ifname: 'lo', flags: ['LOOPBACK', 'UP'], mtu: 65536, link_type: 'loopback', address: '00:00:00:00:00:00', addr_info: [{ family: 'inet', local: '127.0.0.1', prefixlen: 8, scope: 'host' }] },
  {
    ifindex: 3, link_index: 9, ifname: 'eth0', flags: ['BROADCAST', 'MULTICAST', 'UP', 'LOWER_UP'], mtu: 1500, link_type: 'ether', address: 'F2:75:11:B3:18:59', linkinfo: { info_kind: 'veth' },
    addr_info: [
      { family: 'inet', local: '10.102.50.7', prefixlen: 24, scope: 'global', label: 'eth0' },
      { family: 'inet6', local: 'fe80::f075:11ff:feb3:1859', prefixlen: 64, scope: 'link' },
    ],
  },
]);
const ROUTES4 = '[{"dst":"default","gateway":"10.102.50.1","dev":"eth0","flags":[]},{"dst":"10.102.50.0/24","dev":"eth0","protocol":"kernel","scope":"link","prefsrc":"10.102.50.7","flags":[]},{"dst":"10.9.0.0/16","gateway":"10.102.50.254","dev":"eth0","flags":["onlink"]}]';
const ROUTES6 = '[{"dst":"fe80::/64","dev":"eth0","protocol":"kernel","metric":256,"flags":[]},{"type":"multicast","dst":"ff00::/8","dev":"eth0","flags":[]},{"dst":"fd00:1::/64","dev":"eth0","flags":[]}]';

test('addr show: the veth with its MAC (lower case), MTU, kind and global addresses; loopback and link-local left out', () => {
  const ifs = parseAddrShow(ADDR);
  assert.deepEqual(ifs, [{ name: 'eth0', mac: 'f2:75:11:b3:18:59', mtu: 1500, kind: 'veth', addresses: [{ family: 4, address: '10.102.50.7', prefixLen: 24 }] }]);
  assert.equal(podInterface(ifs).name, 'eth0');
});

test('route show: default (gateway), link-scope subnet (source), onlink flag; IPv6 link-local and multicast left out', () => {
  assert.deepEqual(parseRouteShow(ROUTES4, 4), [
    { family: 4, dest: 'default', gateway: '10.102.50.1', device: 'eth0', scope: 0, flags: 0 },
    { family: 4, dest: '10.102.50.0/24', device: 'eth0', source: '10.102.50.7', scope: 253, flags: 0 },
    { family: 4, dest: '10.9.0.0/16', gateway: '10.102.50.254', device: 'eth0', scope: 0, flags: 4 },
  ]);
  assert.deepEqual(parseRouteShow(ROUTES6, 6), [{ family: 6, dest: 'fd00:1::/64', device: 'eth0', scope: 0, flags: 0 }]);
});

test('neigh show: permanent entries with a link-layer address', () => {
  assert.deepEqual(parseNeighShow('[{"dst":"10.9.0.9","dev":"eth0","lladdr":"02:00:00:00:00:09","state":["PERMANENT"]},{"dst":"10.9.0.8","dev":"eth0","state":["FAILED"]}]'), [
    { family: 4, ip: '10.9.0.9', mac: '02:00:00:00:00:09', device: 'eth0' },
  ]);
});

const bad: { name: string; run: () => unknown; message: RegExp }[] = [
  { name: 'not JSON', run: () => parseAddrShow('Device "eth0" does not exist.'), message: /addr show: output is not JSON/ },
  { name: 'not an array', run: () => parseRouteShow('{"dst":"default"}', 4), message: /route show: output is not a JSON array/ },
  { name: 'interface name with a slash', run: () => parseAddrShow('[{"ifname":"../x","link_type":"ether","mtu":1500,"address":"02:00:00:00:00:01"}]'), message: /interface name "\.\.\/x" is not a Linux interface name/ },
  { name: 'MTU out of range', run: () => parseAddrShow('[{"ifname":"eth0","link_type":"ether","mtu":70000,"address":"02:00:00:00:00:01"}]'), message: /MTU 70000 is out of range/ },
  { name: 'MAC not six octets', run: () => parseAddrShow('[{"ifname":"eth0","link_type":"ether","mtu":1500,"address":"02:00:00:00:01"}]'), message: /MAC address "02:00:00:00:01" is not six hex octets/ },
  { name: 'address not an IP', run: () => parseAddrShow('[{"ifname":"eth0","link_type":"ether","mtu":1500,"address":"02:00:00:00:00:01","addr_info":[{"family":"inet","local":"10.1.2","prefixlen":24,"scope":"global"}]}]'), message: /"10\.1\.2" is not an IP address/ },
  { name: 'route prefix too long', run: () => parseRouteShow('[{"dst":"10.0.0.0/33","dev":"eth0"}]', 4), message: /bad prefix length/ },
  { name: 'IPv6 gateway on an IPv4 route', run: () => parseRouteShow('[{"dst":"default","gateway":"fd00::1","dev":"eth0"}]', 4), message: /gateway fd00::1 of default is not IPv4/ },
  { name: 'unknown scope', run: () => parseRouteShow('[{"dst":"10.0.0.0/8","dev":"eth0","scope":"galaxy"}]', 4), message: /scope "galaxy" of 10\.0\.0\.0\/8 is unknown/ },
];
for (const tc of bad) {
  test(`ip -j output refused: ${tc.name}`, () => {
    assert.throws(tc.run, (e: unknown) => isCocoletError(e, ErrorCode.InvalidArgument) && tc.message.test((e as Error).message));
  });
}

test('the pod interface: none with an address, or two, is refused naming what was found', () => {
  const eth = (name: string, addr?: string) => ({ name, mac: '02:00:00:00:00:01', mtu: 1500, kind: 'veth', addresses: addr ? [{ family: 4 as const, address: addr, prefixLen: 24 }] : [] });
  assert.throws(() => podInterface([eth('eth0')]), (e: unknown) => isCocoletError(e, ErrorCode.FailedPrecondition) && /no Ethernet interface with an address \(found: eth0\); was CNI run/.test((e as Error).message));
  assert.throws(() => podInterface([eth('eth0', '10.0.0.2'), eth('net1', '10.1.0.2')]), /2 interfaces with addresses \(eth0, net1\); a VM sandbox connects exactly one/);
});
