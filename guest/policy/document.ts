/**
 * The agent policy document (shared/agent-policy/types.ts): a declarative, readable JSON document
 * (no Rego engine), version 2. The parser lives in shared/ because the host's generator
 * validates what it writes with the same code.
 *
 * ```json
 * { "version": 2, "name": "my-pod", "default": "deny",
 *   "rules": { "CreateContainer": { "allow": true }, "ExecProcess": { "allow": true, "commands": [["/bin/date"]] } },
 *   "containers": [{ "name": "app", "image": "registry.example/app@sha256:…", "imageDigest": "sha256:…",
 *                    "command": ["/app", "--serve"], "env": ["PATH=/bin", "MODE=prod"], "imageDefaults": true,
 *                    "mounts": [{ "destination": "/proc", "type": "proc", "source": "guest", "options": ["nosuid", "noexec", "nodev"] }],
 *                    "capabilities": ["CAP_CHOWN"] }] }
 * ```
 */
export type { PolicyRule, PolicyDocument, ContainerPolicy, MountRule } from '../../shared/agent-policy/types.js';
export { parsePolicy, PolicyParseError } from '../../shared/agent-policy/parse.js';
