// Proves the lint rule that enforces the dependency rule catches violations (and allows the rest).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { ESLint } from 'eslint';

const root = process.env.COCOLET_ROOT ?? process.cwd();

const cases: { name: string; file: string; code: string; violation: boolean }[] = [
  { name: 'host importing guest is refused', file: 'host/x/a.ts', code: "import { x } from '../../guest/agent/x.js';\nexport { x };\n", violation: true },
  { name: 'host importing kbs is refused', file: 'host/a.ts', code: "export * from '../kbs/server.js';\n", violation: true },
  { name: 'guest importing host is refused', file: 'guest/a.ts', code: "export { y } from '../host/y.js';\n", violation: true },
  { name: 'kbs importing guest by dynamic import is refused', file: 'kbs/a.ts', code: "export const m = import('../guest/m.js');\n", violation: true },
  { name: 'shared importing host is refused', file: 'shared/ttrpc/a.ts', code: "import '../../host/z.js';\n", violation: true },
  { name: 'host importing shared is allowed', file: 'host/a.ts', code: "import { x } from '../shared/x.js';\nexport { x };\n", violation: false },
  { name: 'guest importing its own modules is allowed', file: 'guest/agent/a.ts', code: "import { x } from './x.js';\nexport { x };\n", violation: false },
  // inside host/: cmd -> node -> {kubelet, shim} -> {cri, vmm}
  { name: 'kubelet importing the shim is refused', file: 'host/kubelet/runtime/a.ts', code: "import { x } from '../../shim/config.js';\nexport { x };\n", violation: true },
  { name: 'kubelet importing vmm is refused', file: 'host/kubelet/a.ts', code: "import type { X } from '../vmm/hypervisor.js';\nexport type { X };\n", violation: true },
  { name: 'kubelet importing the composition root is refused', file: 'host/kubelet/cli/a.ts', code: "export { up } from '../../node/up.js';\n", violation: true },
  { name: 'shim importing the kubelet is refused', file: 'host/shim/a.ts', code: "import { CpuSet } from '../kubelet/cm/machine/cpuset.js';\nexport { CpuSet };\n", violation: true },
  { name: 'shim importing node by dynamic import is refused', file: 'host/shim/a.ts', code: "export const m = import('../node/up.js');\n", violation: true },
  { name: 'vmm importing the shim is refused', file: 'host/vmm/a.ts', code: "import type { X } from '../shim/hypervisor.js';\nexport type { X };\n", violation: true },
  { name: 'cri importing the kubelet is refused', file: 'host/cri/a.ts', code: "import '../kubelet/kubelet.js';\n", violation: true },
  { name: 'node importing cmd is refused', file: 'host/node/a.ts', code: "import '../cmd/cocolet.js';\n", violation: true },
  { name: 'node importing kubelet and shim is allowed', file: 'host/node/a.ts', code: "import { x } from '../kubelet/kubelet.js';\nimport { y } from '../shim/config.js';\nexport { x, y };\n", violation: false },
  { name: 'shim importing vmm and shared is allowed', file: 'host/shim/a.ts', code: "import { x } from '../vmm/qemu.js';\nimport { y } from '../../shared/cpuset/cpuset.js';\nexport { x, y };\n", violation: false },
  { name: 'vmm importing shared and itself is allowed', file: 'host/vmm/a.ts', code: "import { x } from './qemu.js';\nimport { y } from '../../shared/tee/kind.js';\nexport { x, y };\n", violation: false },
];

const eslint = new ESLint({ cwd: root });

for (const tc of cases) {
  test(tc.name, async () => {
    const [result] = await eslint.lintText(tc.code, { filePath: join(root, tc.file) });
    const layering = result!.messages.filter((m) => m.ruleId === 'cocolet/layering');
    assert.equal(layering.length > 0, tc.violation, JSON.stringify(result!.messages));
  });
}
