import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseConfig } from './config.js';
import { ExamplePlugin, defaultEnvName } from './plugin.js';

const log = (): void => undefined;

test('example plugin options: defaults and derived names', () => {
  const c = parseConfig(['--resource', 'example.com/widget', '--devices', '4', '--numa', '0,0,1,1'], log);
  assert.equal(c.count, 4);
  assert.deepEqual(c.numa, [0, 0, 1, 1]);
  assert.equal(c.endpoint, 'example-com-widget.sock');
  assert.equal(c.envName, 'WIDGET_DEVICES');
  assert.equal(defaultEnvName('vendor.example/gpu-mig.1g'), 'GPU_MIG_1G_DEVICES');
});

const bad: { name: string; args: string[]; why: RegExp }[] = [
  { name: 'device count', args: ['--devices', 'x'], why: /--devices must be a whole number/ },
  { name: 'NUMA ids', args: ['--numa', '0,a'], why: /--numa must be comma-separated/ },
  { name: 'more NUMA entries than devices', args: ['--devices', '1', '--numa', '0,1'], why: /--numa lists 2 nodes for 1 devices/ },
  { name: 'resource without a domain', args: ['--resource', 'widget'], why: /--resource must look like vendor.example\/name/ },
  { name: 'unknown option', args: ['--bogus'], why: /Unknown option '--bogus'/ },
];
for (const tc of bad) {
  test(`example plugin options refused: ${tc.name}`, () => {
    assert.throws(() => parseConfig(tc.args, log), tc.why);
  });
}

test('example plugin preferred allocation: required ids first, then the NUMA node with the most candidates', () => {
  const p = new ExamplePlugin(parseConfig(['--devices', '6', '--numa', '0,0,1,1,1'], log));
  assert.deepEqual(p.preferred(['widget-0', 'widget-2', 'widget-3', 'widget-4'], [], 2), ['widget-2', 'widget-3']);
  assert.deepEqual(p.preferred(['widget-0', 'widget-1', 'widget-2'], ['widget-2'], 2), ['widget-2', 'widget-0']);
  assert.deepEqual(p.preferred(['widget-5', 'widget-0'], [], 2), ['widget-0', 'widget-5'], 'widget-5 has no NUMA node: last');
});
