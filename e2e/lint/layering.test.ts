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
];

const eslint = new ESLint({ cwd: root });

for (const tc of cases) {
  test(tc.name, async () => {
    const [result] = await eslint.lintText(tc.code, { filePath: join(root, tc.file) });
    const layering = result!.messages.filter((m) => m.ruleId === 'cocolet/layering');
    assert.equal(layering.length > 0, tc.violation, JSON.stringify(result!.messages));
  });
}
