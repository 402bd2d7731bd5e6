/** host/vmm: the hypervisors (QEMU, the agent as a process) and what they need; the shim registers them by name. */
export * from './hypervisor.js';
export { QemuHypervisor, qemuArgs, vcpuThreads, type QemuHypervisorOptions, type QemuArgsInput } from './qemu.js';
export { prepareConfidentialLaunch, SNP_DEFAULT_CPU, SNP_DEFAULT_POLICY, type ConfidentialGuest, type ConfidentialLaunch } from './confidential.js';
export { findFirmware, readFirmware, DEFAULT_FIRMWARE_PATHS } from './firmware.js';
export { ProcessHypervisor, defaultAgentEntry, type ProcessHypervisorOptions } from './process.js';
export { loadGuestImage, guestImageDir, type GuestImage } from './image.js';
export { initdataDiskImage, INITDATA_MAGIC } from './initdata-disk.js';
export { pinThreads } from './pin.js';
export { connectAgent, type ConnectAgentOptions } from './agent-connect.js';

