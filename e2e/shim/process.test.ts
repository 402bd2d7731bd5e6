// CRI pods on the `process` hypervisor (the real agent as a local process); see guest-pods.ts.
import { guestPodSuite } from './guest-pods.js';

guestPodSuite('process');
