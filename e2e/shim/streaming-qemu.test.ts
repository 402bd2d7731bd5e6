// Exec and attach through containerd's CRI into a cocolet pod on the `qemu` hypervisor (the real
// agent in a QEMU microVM with swtpm); see streaming-pods.ts.
import { streamingSuite } from './streaming-pods.js';
import { qemuSkipReason } from './support.js';

streamingSuite('qemu', { skipReason: qemuSkipReason });
