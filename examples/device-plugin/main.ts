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
import { ExamplePlugin, type PluginConfig } from './plugin.js';
import { parseConfig } from './config.js';

function fail(msg: string): never {
  process.stderr.write(`example-device-plugin: ${msg}\n`);
  process.exit(2);
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
