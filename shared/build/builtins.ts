/**
 * An esbuild plugin for CommonJS bundles of our Node programs (the guest agent, the shim): Node
 * built-ins are reached through `require`, and those named `lazy` are loaded only when first used.
 *
 * `require` instead of an ESM `import`: an ESM import of a built-in materialises every export of it
 * (`node:fs` then loads fs/promises, readline and the stream stack), a require only loads the module
 * itself; the bundle reads the exports it uses through esbuild's CommonJS interop, on access. Marked
 * free of side effects, so a built-in whose imports are all unused is dropped.
 *
 * Lazy built-ins (a start path imports them but does not call them before it is up): a Proxy loads
 * the real module on first use. It reports the export names of the Node that builds the bundle (the
 * programs run the same binary), so esbuild's interop copies them as getters without loading.
 * Build-time code only.
 */
import { builtinModules, createRequire } from 'node:module';
import type { Plugin } from 'esbuild';

const BUILTINS = new Set(builtinModules);
const buildRequire = createRequire(import.meta.url);

export function builtinShim(name: string, lazy: readonly string[]): string {
  const id = JSON.stringify(`node:${name}`);
  if (!lazy.includes(name)) return `module.exports = require(${id});`;
  const keys = JSON.stringify(Object.getOwnPropertyNames(buildRequire(`node:${name}`) as object).sort());
  return `let m; const load = () => (m ??= require(${id})); const keys = ${keys};
module.exports = new Proxy(function () {}, {
  get: (_, k) => load()[k],
  set: (_, k, v) => { load()[k] = v; return true; },
  has: (_, k) => k in load(),
  apply: (_, self, args) => load().apply(self, args),
  construct: (_, args) => new (load())(...args),
  ownKeys: (t) => [...new Set([...keys, ...Reflect.ownKeys(t)])],
  getOwnPropertyDescriptor: (t, k) => Reflect.getOwnPropertyDescriptor(t, k) ?? (keys.includes(k) ? { configurable: true, enumerable: true, writable: true, value: undefined } : undefined),
});`;
}

export function requireBuiltins(lazy: readonly string[]): Plugin {
  return {
    name: 'require-builtins',
    setup(b) {
      b.onResolve({ filter: /^(node:)?[a-z0-9_/]+$/ }, (a) => {
        const name = a.path.replace(/^node:/, '');
        if (!BUILTINS.has(name)) return undefined;
        // the shim's own require stays a real require
        return a.namespace === 'node-builtin' ? { path: a.path, external: true } : { path: name, namespace: 'node-builtin', sideEffects: false };
      });
      b.onLoad({ filter: /.*/, namespace: 'node-builtin' }, (a) => ({ contents: builtinShim(a.path, lazy), loader: 'js' }));
    },
  };
}
