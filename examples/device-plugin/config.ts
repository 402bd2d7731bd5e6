/** Command-line options of the example device plugin (main.ts); errors name the option. */
import { parseArgs } from 'node:util';
import { defaultEnvName, type PluginConfig } from './plugin.js';

function bad(msg: string): never {
  throw new Error(msg);
}

export function parseConfig(argv: string[], log: PluginConfig['log']): PluginConfig {
  const { values } = parseArgs({
    args: argv,
    options: {
      resource: { type: 'string', default: 'example.com/widget' },
      devices: { type: 'string', default: '4' },
      numa: { type: 'string', default: '' },
      dir: { type: 'string', default: '/var/lib/kubelet/device-plugins' },
      endpoint: { type: 'string' },
      env: { type: 'string' },
      'pre-start': { type: 'boolean', default: false },
      'health-file': { type: 'string' },
      'host-device': { type: 'string' },
      'watch-ms': { type: 'string', default: '500' },
    },
    strict: true,
  });
  const count = Number(values.devices);
  if (!Number.isInteger(count) || count < 0 || count > 1000) bad(`--devices must be a whole number from 0 to 1000, got "${values.devices}"`);
  const numa = values.numa === '' ? [] : values.numa.split(',').map((s) => Number(s.trim()));
  if (numa.some((n) => !Number.isInteger(n) || n < 0)) bad(`--numa must be comma-separated NUMA node ids, got "${values.numa}"`);
  if (numa.length > count) bad(`--numa lists ${numa.length} nodes for ${count} devices`);
  const resource = values.resource;
  if (!/^[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(resource)) bad(`--resource must look like vendor.example/name, got "${resource}"`);
  const watchMs = Number(values['watch-ms']);
  if (!(watchMs >= 10)) bad(`--watch-ms must be at least 10, got "${values['watch-ms']}"`);
  return {
    resource,
    count,
    numa,
    dir: values.dir,
    endpoint: values.endpoint ?? `${resource.replace(/[^A-Za-z0-9]+/g, '-')}.sock`,
    envName: values.env ?? defaultEnvName(resource),
    preStart: values['pre-start'],
    ...(values['health-file'] ? { healthFile: values['health-file'] } : {}),
    ...(values['host-device'] ? { hostDevice: values['host-device'] } : {}),
    watchMs,
    log,
  };
}
