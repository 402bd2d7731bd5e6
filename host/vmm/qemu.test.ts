import { test } from 'node:test';
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { qemuArgs, type QemuArgsInput } from './qemu.js';
import { initdataDiskImage } from './initdata-disk.js';

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
    name: 'microvm with the agent channel on a unix socket and the console in a file',
    input: base,
    check: (a) => {
      assert.deepEqual(after(a, '-M'), ['microvm']);
      assert.ok(after(a, '-chardev').includes('socket,id=agent,path=/s/agent.sock,server=on,wait=off'));
      assert.ok(after(a, '-device').includes('virtserialport,chardev=agent,name=agent.channel.0'));
      assert.deepEqual(after(a, '-serial'), ['file:/s/console.log']);
      assert.deepEqual(after(a, '-smp'), ['2']);
      assert.equal(a.includes('-netdev'), false);
    },
  },
  {
    name: 'swtpm, init-data disk and user networking with hostfwd',
    input: { ...base, swtpmSocket: '/s/swtpm.sock', initdataDisk: '/s/initdata.img', net: { egress: false, hostfwdPort: 4567 } },
    check: (a) => {
      assert.ok(after(a, '-tpmdev').includes('emulator,id=tpm0,chardev=chrtpm'));
      assert.ok(after(a, '-device').includes('tpm-tis,tpmdev=tpm0'));
      assert.ok(after(a, '-drive')[0]!.includes('readonly=on'));
      assert.deepEqual(after(a, '-netdev'), ['user,id=net0,restrict=on,hostfwd=tcp:127.0.0.1:4567-:1024']);
    },
  },
];
for (const tc of cases) test(tc.name, () => tc.check(qemuArgs(tc.input)));

test('init-data disk layout: magic, LE length, gzip, sector padding', () => {
  const toml = Buffer.from('version = "0.1.0"\n');
  const img = initdataDiskImage(toml);
  assert.equal(img.length % 512, 0);
  assert.equal(img.toString('ascii', 0, 8), 'initdata');
  const n = Number(img.readBigUInt64LE(8));
  assert.deepEqual(gunzipSync(img.subarray(16, 16 + n)), toml);
});
