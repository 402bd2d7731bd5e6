// Exec and attach through containerd's CRI with containerd's own runc shim: the reference the
// cocolet runs (streaming-process, streaming-qemu) must match; see streaming-pods.ts.
import { streamingSuite } from './streaming-pods.js';

streamingSuite('runc');
