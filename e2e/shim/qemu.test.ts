// CRI pods on the `qemu` hypervisor (the real agent in a QEMU microVM with swtpm); see guest-pods.ts.
import { guestPodSuite } from './guest-pods.js';
import { qemuSkipReason } from './support.js';

guestPodSuite('qemu', { skipReason: qemuSkipReason });
