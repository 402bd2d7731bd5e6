import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { qemuArgs, type QemuArgsInput } from './qemu.js';
import { initdataDiskImage } from './initdata-disk.js';
import { createHash } from 'node:crypto';
import { initdataRegister } from './initdata-digest.js';

const base: QemuArgsInput = {
  accel: { accel: 'tcg', cpu: 'max', reason: 'test' },
  image: { kernel: '/img/vmlinuz', initramfs: '/img/initramfs.cpio' },
  cmdline: 'console=ttyS0',
  vcpus: 2, memoryMiB: 512,
  agentSocket: '/s/agent.sock', consoleLog: '/s/console.log',
};

function after(args: string[], flag: string): string[] {
  return args.flatMap((a, i) => (a === flag ? [args[i + 1]!] : []));
}

const cases: { name: string; input: QemuArgsInput; check: (a: string[]) => void }[] = [
  {
    name: 'development TEE: microvm with the agent channel on a unix socket and the console in a file',
    input: base,
    check: (a) => {
      assert.deepEqual(after(a, '-M'), ['microvm']);
      assert.equal(a.includes('-bios'), false);
      assert.equal(after(a, '-object').some((o) => /sev|tdx/.test(o)), false);
      assert.ok(after(a, '-chardev').includes('socket,id=agent,path=/s/agent.sock,server=on,wait=off'));
      assert.ok(after(a, '-device').includes('virtserialport,chardev=agent,name=agent.channel.0'));
      assert.deepEqual(after(a, '-serial'), ['file:/s/console.log']);
      assert.deepEqual(after(a, '-smp'), ['2']);
      assert.equal(a.includes('-netdev'), false);
    },
  },
  {
    name: 'pod network: the tap QEMU opens by name (no scripts) as a virtio-net NIC with the pod veth\'s MAC, beside the user-mode NIC',
    input: { ...base, net: { egress: true }, taps: [{ tap: 'cc0123456789ab', mac: '0a:58:0a:66:32:07' }] },
    check: (a) => {
      assert.deepEqual(after(a, '-netdev'), ['user,id=net0,restrict=off', 'tap,id=pod0,ifname=cc0123456789ab,script=no,downscript=no']);
      assert.ok(after(a, '-device').includes('virtio-net-device,netdev=pod0,mac=0a:58:0a:66:32:07'));
      assert.ok(after(a, '-device').includes('virtio-net-device,netdev=net0,mac=52:54:00:12:34:56'));
    },
  },
  {
    name: 'swtpm, init-data disk and user networking with nothing forwarded into the guest',
    input: { ...base, swtpmSocket: '/s/swtpm.sock', initdataDisk: '/s/initdata.img', net: { egress: false } },
    check: (a) => {
      assert.ok(after(a, '-tpmdev').includes('emulator,id=tpm0,chardev=chrtpm'));
      assert.ok(after(a, '-device').includes('tpm-tis,tpmdev=tpm0'));
      assert.ok(after(a, '-drive')[0]!.includes('readonly=on'));
      assert.deepEqual(after(a, '-netdev'), ['user,id=net0,restrict=on']);
    },
  },
  {
    name: 'SEV-SNP: q35 with a memfd RAM backend, sev-snp-guest with kernel-hashes and HOSTDATA, OVMF as -bios, virtio-pci, KVM',
    input: { ...base, initdataDisk: '/s/initdata.img', net: { egress: true }, confidential: { tee: 'snp', firmware: '/fw/OVMF.fd', cpu: 'EPYC-Milan', hostData: Buffer.alloc(32, 0xab) } },
    check: (a) => {
      assert.deepEqual(after(a, '-accel'), ['kvm']);
      assert.equal(a.includes('-M'), false);
      assert.deepEqual(after(a, '-machine'), ['q35,confidential-guest-support=cgs0,memory-backend=ram0']);
      assert.deepEqual(after(a, '-cpu'), ['EPYC-Milan']);
      assert.deepEqual(after(a, '-bios'), ['/fw/OVMF.fd']);
      assert.ok(after(a, '-object').includes('memory-backend-memfd,id=ram0,size=512M,share=true,prealloc=false'));
      assert.ok(after(a, '-object').includes(`sev-snp-guest,id=cgs0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on,host-data=${Buffer.alloc(32, 0xab).toString('base64')}`));
      assert.deepEqual(after(a, '-device').filter((d) => d.startsWith('virtio')), [
        'virtio-serial-pci,disable-legacy=on,iommu_platform=on',
        'virtio-rng-pci,disable-legacy=on,iommu_platform=on,rng=rng0',
        'virtio-blk-pci,disable-legacy=on,iommu_platform=on,drive=initdata',
        'virtio-net-pci,disable-legacy=on,iommu_platform=on,netdev=net0,mac=52:54:00:12:34:56',
      ]);
      assert.ok(a.includes('-nodefaults'));
    },
  },
  {
    name: 'TDX: q35 with the split irqchip, tdx-guest with MRCONFIGID, -cpu host',
    input: { ...base, confidential: { tee: 'tdx', firmware: '/fw/OVMF.fd', mrConfigId: Buffer.alloc(48, 1) } },
    check: (a) => {
      assert.deepEqual(after(a, '-machine'), ['q35,kernel-irqchip=split,confidential-guest-support=cgs0,memory-backend=ram0']);
      assert.deepEqual(after(a, '-cpu'), ['host']);
      assert.ok(after(a, '-object').includes(`tdx-guest,id=cgs0,mrconfigid=${Buffer.alloc(48, 1).toString('base64')}`));
    },
  },
  {
    name: 'guest RAM bound to NUMA nodes (development TEE): a RAM backend with host-nodes and policy=bind is the microvm machine\'s memory',
    input: { ...base, hostNodes: [0, 1, 2, 5] },
    check: (a) => {
      assert.deepEqual(after(a, '-M'), ['microvm,memory-backend=ram0']);
      assert.ok(after(a, '-object').includes('memory-backend-ram,id=ram0,size=512M,host-nodes=0-2,host-nodes=5,policy=bind'));
      assert.deepEqual(after(a, '-m'), ['512']);
    },
  },
  {
    name: 'guest RAM bound to NUMA nodes (SEV-SNP): the memfd backend gets host-nodes and policy=bind',
    input: { ...base, hostNodes: [1], confidential: { tee: 'snp', firmware: '/fw/OVMF.fd', cpu: 'EPYC-v4' } },
    check: (a) => {
      assert.ok(after(a, '-object').includes('memory-backend-memfd,id=ram0,size=512M,share=true,prealloc=false,host-nodes=1,policy=bind'));
      assert.equal(after(a, '-object').filter((o) => o.startsWith('memory-backend')).length, 1);
    },
  },
  {
    name: 'no NUMA nodes: no RAM backend on microvm (QEMU\'s default RAM, default policy)',
    input: { ...base, hostNodes: [] },
    check: (a) => {
      assert.deepEqual(after(a, '-M'), ['microvm']);
      assert.equal(after(a, '-object').some((o) => o.startsWith('memory-backend')), false);
    },
  },
  {
    name: 'SNP without init-data: no host-data word (HOSTDATA stays zero)',
    input: { ...base, confidential: { tee: 'snp', firmware: '/fw/OVMF.fd', cpu: 'EPYC-v4' } },
    check: (a) => assert.ok(after(a, '-object').includes('sev-snp-guest,id=cgs0,cbitpos=51,reduced-phys-bits=1,policy=0x30000,kernel-hashes=on')),
  },
];
for (const tc of cases) test(tc.name, () => tc.check(qemuArgs(tc.input)));

test('a wrong-sized HOSTDATA / MRCONFIGID and a host swtpm on a hardware TEE are refused', () => {
  assert.throws(() => qemuArgs({ ...base, confidential: { tee: 'snp', firmware: '/f', cpu: 'EPYC-v4', hostData: Buffer.alloc(48) } }), /SNP host-data must be 32 bytes \(got 48\)/);
  assert.throws(() => qemuArgs({ ...base, confidential: { tee: 'tdx', firmware: '/f', mrConfigId: Buffer.alloc(32) } }), /TDX mrconfigid must be 48 bytes/);
  assert.throws(() => qemuArgs({ ...base, swtpmSocket: '/s/tpm', confidential: { tee: 'tdx', firmware: '/f' } }), /swtpm is not attached/);
});

test('init-data digest into HOSTDATA (32) and MRCONFIGID (48): the document\'s algorithm, truncated or zero-padded', () => {
  const sha256doc = Buffer.from('version = "0.1.0"\nalgorithm = "sha256"\n');
  const sha384doc = Buffer.from('version = "0.1.0"\nalgorithm = "sha384"\n');
  assert.deepEqual(initdataRegister(sha256doc, 32), createHash('sha256').update(sha256doc).digest());
  assert.deepEqual(initdataRegister(sha256doc, 48), Buffer.concat([createHash('sha256').update(sha256doc).digest(), Buffer.alloc(16)]));
  assert.deepEqual(initdataRegister(sha384doc, 32), createHash('sha384').update(sha384doc).digest().subarray(0, 32));
  assert.throws(() => initdataRegister(Buffer.from('algorithm = "md5"'), 32), /algorithm must be one of sha256, sha384, sha512/);
});

test('init-data disk layout: magic, LE length, gzip, sector padding', () => {
  const toml = Buffer.from('version = "0.1.0"\n');
  const img = initdataDiskImage(toml);
  assert.equal(img.length % 512, 0);
  assert.equal(img.toString('ascii', 0, 8), 'initdata');
  const n = Number(img.readBigUInt64LE(8));
  assert.deepEqual(gunzipSync(img.subarray(16, 16 + n)), toml);
});

test('a tap name or MAC that could inject QEMU options is refused', () => {
  assert.throws(() => qemuArgs({ ...base, taps: [{ tap: 'cc0,script=/x', mac: '0a:58:0a:66:32:07' }] }), /tap name "cc0,script=\/x" is not a Linux interface name/);
  assert.throws(() => qemuArgs({ ...base, taps: [{ tap: 'cc01', mac: '0a:58:0a:66:32:07,romfile=/x' }] }), /is not six lower-case hex octets/);
});
