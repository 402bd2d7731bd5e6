/**
 * Named machine topologies for tests, benchmarks and `cocolet explain` examples: the machines the
 * upstream kubelet's CPU manager tests use (same CPU, core, socket and NUMA numbering), so that
 * their expected allocations can be checked one for one.
 */
import type { CpuInfo, MachineTopology } from '../types.js';
import { defaultDistances } from './topology.js';

function machine(cpus: CpuInfo[]): MachineTopology {
  cpus.sort((a, b) => a.cpu - b.cpu);
  const numaNodes = [...new Set(cpus.map((c) => c.numa))].sort((a, b) => a - b);
  return { cpus, numaNodes, distances: defaultDistances(numaNodes) };
}

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i);
}

/** 1 socket, 1 NUMA node, 4 cores, 8 CPUs; siblings {i, i+4}. */
export const singleSocketHT = (): MachineTopology => machine(range(8).map((cpu) => ({ cpu, core: cpu % 4, socket: 0, numa: 0 })));

/** 2 sockets (= NUMA nodes), 6 cores, 12 CPUs; even CPUs on socket 0, siblings {i, i+6}. */
export const dualSocketHT = (): MachineTopology => machine(range(12).map((cpu) => ({ cpu, core: cpu % 6, socket: cpu % 2, numa: cpu % 2 })));

/** 2 sockets (= NUMA nodes), 8 cores without SMT; 0-3 on socket 0. */
export const dualSocketNoHT = (): MachineTopology => machine(range(8).map((cpu) => ({ cpu, core: cpu, socket: cpu < 4 ? 0 : 1, numa: cpu < 4 ? 0 : 1 })));

/** 3 sockets (= NUMA nodes), 9 cores, 18 CPUs; siblings {2k, 2k+1}; CPUs 0-5 on socket 1, 6-11 on 0, 12-17 on 2. */
export const tripleSocketHT = (): MachineTopology =>
  machine(
    range(18).map((cpu) => {
      const socket = cpu < 6 ? 1 : cpu < 12 ? 0 : 2;
      return { cpu, core: cpu >> 1, socket, numa: socket };
    }),
  );

/**
 * 2 sockets, 4 NUMA nodes (2 per socket), 40 cores, 80 CPUs; siblings {i, i+40};
 * NUMA n = CPUs 10n..10n+9 and 40+10n..40+10n+9; NUMA 0-1 on socket 0.
 */
export const dualSocketMultiNumaPerSocketHT = (): MachineTopology =>
  machine(
    range(80).map((cpu) => {
      const numa = Math.floor((cpu % 40) / 10);
      return { cpu, core: cpu % 40, socket: numa >> 1, numa };
    }),
  );

/** 4 sockets, 2 NUMA nodes (2 sockets each), 40 cores, 80 CPUs; socket s = 10s..10s+9 and 40+10s..; NUMA 0 = sockets 0-1. */
export const multiSocketDualSocketPerNumaHT = (): MachineTopology =>
  machine(
    range(80).map((cpu) => {
      const socket = Math.floor((cpu % 40) / 10);
      return { cpu, core: cpu % 40, socket, numa: socket >> 1 };
    }),
  );

/**
 * The large 8-NUMA machine: 2 sockets, 8 NUMA nodes (4 per socket), 128 cores, 256 CPUs;
 * siblings {i, i+128}; NUMA n = CPUs 16n..16n+15 and 128+16n..128+16n+15.
 */
export const dualSocketMultiNumaPerSocketHTLarge = (): MachineTopology =>
  machine(
    range(256).map((cpu) => {
      const numa = Math.floor((cpu % 128) / 16);
      return { cpu, core: cpu % 128, socket: numa >> 2, numa };
    }),
  );

/** Socket -> [core id, its 4 threads] of a 4-socket, 4-way SMT Knights Landing (SNC4) machine, 288 CPUs. */
const QUAD_SOCKET_FOUR_WAY: [number, number[]][][] = [
  [
    [0, [0, 169, 109, 229]], [1, [50, 170, 110, 230]], [64, [1, 25, 13, 38]], [65, [2, 26, 14, 39]],
    [72, [9, 33, 21, 46]], [73, [10, 34, 22, 47]], [8, [57, 177, 117, 237]], [9, [58, 178, 118, 238]],
    [24, [71, 191, 131, 251]], [25, [72, 192, 132, 252]], [32, [79, 199, 139, 259]], [33, [80, 200, 140, 260]],
    [40, [87, 207, 147, 267]], [41, [88, 208, 148, 268]], [48, [95, 215, 155, 275]], [49, [96, 216, 156, 276]],
    [56, [103, 223, 163, 283]], [57, [104, 224, 164, 284]],
  ],
  [
    [66, [3, 27, 15, 40]], [67, [4, 28, 16, 41]], [74, [11, 35, 23, 48]], [75, [12, 36, 24, 49]],
    [2, [51, 171, 111, 231]], [3, [52, 172, 112, 232]], [10, [59, 179, 119, 239]], [11, [60, 180, 120, 240]],
    [18, [65, 185, 125, 245]], [19, [66, 186, 126, 246]], [26, [73, 193, 133, 253]], [27, [74, 194, 134, 254]],
    [34, [81, 201, 141, 261]], [35, [82, 202, 142, 262]], [42, [89, 209, 149, 269]], [43, [90, 210, 150, 270]],
    [50, [97, 217, 157, 277]], [51, [98, 218, 158, 278]],
  ],
  [
    [68, [5, 29, 17, 42]], [69, [6, 30, 18, 43]], [4, [53, 173, 113, 233]], [5, [54, 174, 114, 234]],
    [12, [61, 181, 121, 241]], [13, [62, 182, 122, 242]], [20, [67, 187, 127, 247]], [21, [68, 188, 128, 248]],
    [28, [75, 195, 135, 255]], [29, [76, 196, 136, 256]], [36, [83, 203, 143, 263]], [37, [84, 204, 144, 264]],
    [44, [91, 211, 151, 271]], [45, [92, 212, 152, 272]], [52, [99, 219, 159, 279]], [53, [100, 220, 160, 280]],
    [60, [105, 225, 165, 285]], [61, [106, 226, 166, 286]],
  ],
  [
    [70, [7, 31, 19, 44]], [71, [8, 32, 20, 45]], [63, [37, 168, 108, 228]], [62, [107, 227, 167, 287]],
    [6, [55, 175, 115, 235]], [7, [56, 176, 116, 236]], [14, [63, 183, 123, 243]], [15, [64, 184, 124, 244]],
    [22, [69, 189, 129, 249]], [23, [70, 190, 130, 250]], [30, [77, 197, 137, 257]], [31, [78, 198, 138, 258]],
    [38, [85, 205, 145, 265]], [39, [86, 206, 146, 266]], [46, [93, 213, 153, 273]], [47, [94, 214, 154, 274]],
    [54, [101, 221, 161, 281]], [55, [102, 222, 162, 282]],
  ],
];

/** 4 sockets (= NUMA nodes), 72 cores with 4 threads each, 288 CPUs, ids interleaved across sockets. */
export const quadSocketFourWayHT = (): MachineTopology =>
  machine(QUAD_SOCKET_FOUR_WAY.flatMap((cores, socket) => cores.flatMap(([core, cpus]) => cpus.map((cpu) => ({ cpu, core, socket, numa: socket })))));

export const FIXTURE_TOPOLOGIES: Record<string, () => MachineTopology> = {
  singleSocketHT,
  dualSocketHT,
  dualSocketNoHT,
  tripleSocketHT,
  dualSocketMultiNumaPerSocketHT,
  multiSocketDualSocketPerNumaHT,
  dualSocketMultiNumaPerSocketHTLarge,
  quadSocketFourWayHT,
};
