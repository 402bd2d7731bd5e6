// Pod networking with the `qemu` hypervisor (tap + tc mirred to the pod's veth, guest configured by the agent); see pod-network.ts.
import { podNetworkSuite } from './pod-network.js';
import { qemuSkipReason } from './support.js';

podNetworkSuite('qemu', { skipReason: qemuSkipReason });
