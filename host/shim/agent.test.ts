import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ErrorCode } from '../../shared/errors/errors.js';
import { dialAgent } from './agent.js';

test('a VM that exits before its agent answers fails the dial with the VMM\'s own reason', async () => {
  await assert.rejects(
    dialAgent('/nonexistent/agent.sock', { timeoutMs: 60_000, until: Promise.resolve({ detail: 'qemu-system-x86_64: -accel kvm: vm-type SEV-SNP not supported by KVM' }) }),
    (e: { code?: string; message: string }) => e.code === ErrorCode.VmFailed && e.message === 'the VM exited before its agent answered: qemu-system-x86_64: -accel kvm: vm-type SEV-SNP not supported by KVM',
  );
  await assert.rejects(dialAgent('/nonexistent/agent.sock', { timeoutMs: 60_000, until: Promise.resolve() }), (e: Error) => e.message === 'the VM exited before its agent answered');
});
