// The built-in policies live in shared/agent-policy (the host authors policies from them too).
export { CONFIDENTIAL_DEFAULT_POLICY, PERMISSIVE_POLICY, SHARED_COPY_PATH, builtinPolicyDigest } from '../../shared/agent-policy/defaults.js';
