// Exec and attach through containerd's CRI into a cocolet pod on the `process` hypervisor (the real
// agent as a local process); see streaming-pods.ts.
import { streamingSuite } from './streaming-pods.js';

streamingSuite('process');
