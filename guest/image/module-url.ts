/**
 * Injected into the CommonJS agent bundle (bundle.ts): `import.meta.url` of the bundled modules
 * becomes this value, the bundle file's own URL. Not used outside the bundle.
 */
import { pathToFileURL } from 'node:url';

export const __cocoletModuleUrl: string = pathToFileURL(typeof __filename === 'string' ? __filename : '/').href;
