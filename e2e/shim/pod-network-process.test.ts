// Pod networking with the `process` hypervisor (the agent in the pod's network namespace); see pod-network.ts.
import { podNetworkSuite } from './pod-network.js';

podNetworkSuite('process');
