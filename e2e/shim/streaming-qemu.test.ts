// Exec and attach through containerd's CRI into a cocolet pod on the `qemu` hypervisor (the real
// agent in a QEMU microVM with swtpm); see streaming-pods.ts.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { have } from '../../shared/testing/harness.js';
import { guestImageDir } from '../../host/vmm/index.js';
import { streamingSuite } from './streaming-pods.js';

streamingSuite('qemu', {
  skipReason: () => {
    if (!have('qemu-system-x86_64')) return 'qemu-system-x86_64 is not installed';
    if (!have('swtpm')) return 'swtpm is not installed';
    if (!existsSync(join(guestImageDir(), 'manifest.json'))) return 'guest image not built (npm run guest-image)';
    return undefined;
  },
});
