/**
 * The guest policy `cocolet up` puts in the demo confidential pod's init-data: the agent's
 * confidential default (shared/agent-policy/defaults.ts) with ONE difference: ReadStdout and
 * ReadStderr are allowed, so `cocolet logs` shows what the TEE prints. A real confidential
 * workload keeps them denied.
 */
import type { PolicyDocument } from '../../shared/agent-policy/types.js';
import { CONFIDENTIAL_DEFAULT_POLICY } from '../../shared/agent-policy/defaults.js';

export const DEMO_POLICY: PolicyDocument = {
  ...CONFIDENTIAL_DEFAULT_POLICY,
  name: 'cocolet-up-demo',
  rules: {
    ...CONFIDENTIAL_DEFAULT_POLICY.rules,
    // the demo's one difference from the confidential default
    ReadStdout: { allow: true },
    ReadStderr: { allow: true },
  },
};
