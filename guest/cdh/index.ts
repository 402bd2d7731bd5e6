/** The confidential data hub (see README, "Data hub"). */
export { ConfidentialDataHub, type DataHubOptions, type DataHubInitdata } from './hub.js';
export { KbsClient, CdhError, DEFAULT_RETRY, type KbsClientOptions, type RetryOptions, type RetryEvent } from './kbs-client.js';
export { kbsConfigFromInitdata, type KbsConfig } from './config.js';
export { parseResourceUri, type ResourceUri } from './resource-uri.js';
export { isSealedSecret, parseSealedSecret, SEALED_PREFIX } from './sealed.js';
export { unsealEnv, unsealVolume, writeSecretFile, requireGuestMemory } from './delivery.js';
