#!/usr/bin/env node
/**
 * cocolet's example device plugin (see README.md):
 *
 *   node dist/examples/device-plugin/main.js --resource example.com/widget --devices 4 --numa 0,0,1,1
 *
 * Options: --dir (default /var/lib/kubelet/device-plugins), --endpoint (socket file name),
 * --env (variable naming the allocated widgets), --pre-start, --health-file FILE,
 * --host-device PATH (a host device node shown as /dev/<widget id>), --watch-ms.
 * SIGUSR1 re-reads the health file (or marks the next widget unhealthy); SIGTERM/SIGINT stop it.
 * It logs one JSON object per line on stdout.
 */
import { parseArgs } from 'node:util';
import { ExamplePlugin, defaultEnvName, type PluginConfig } from './plugin.js';

function fail(msg: string): never {
  process.stderr.write(`example-device-plugin: ${msg}\n`);
  process.exit(2);
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
  if (!Number.isInteger(count) || count < 0 || count > 1000) fail(`--devices must be a whole number from 0 to 1000, got "${values.devices}"`);
  const numa = values.numa === '' ? [] : values.numa.split(',').map((s) => Number(s.trim()));
  if (numa.some((n) => !Number.isInteger(n) || n < 0)) fail(`--numa must be comma-separated NUMA node ids, got "${values.numa}"`);
  if (numa.length > count) fail(`--numa lists ${numa.length} nodes for ${count} devices`);
  const resource = values.resource;
  if (!/^[a-z0-9.-]+\/[A-Za-z0-9._-]+$/.test(resource)) fail(`--resource must look like vendor.example/name, got "${resource}"`);
  const watchMs = Number(values['watch-ms']);
  if (!(watchMs >= 10)) fail(`--watch-ms must be at least 10, got "${values['watch-ms']}"`);
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

async function main(): Promise<void> {
  const log: PluginConfig['log'] = (event, fields) => process.stdout.write(`${JSON.stringify({ time: new Date().toISOString(), event, ...fields })}\n`);
  let config: PluginConfig;
  try {
    config = parseConfig(process.argv.slice(2), log);
  } catch (e) {
    fail((e as Error).message);
  }
  const plugin = new ExamplePlugin(config);
  const shutdown = (): void => {
    void plugin.stop().then(() => {
      log('stopped');
      process.exit(0);
    });
  };
  process.on('SIGTERM', shutdown);
  process.on('SIGINT', shutdown);
  process.on('SIGUSR1', () => plugin.refreshHealth());
  await plugin.start();
  log('started', { resource: config.resource, devices: plugin.ids, numa: config.numa, dir: config.dir, endpoint: config.endpoint });
}

main().catch((e: unknown) => fail((e as Error).message));
