// The services of berth.v1, as names: what both transports of the client (src/cli/) and the server's
// registration (./proto.ts) iterate over. No gRPC or protobufjs here, so the CLI can name a service
// without loading either.
export const BERTH_SERVICES = ['Settings', 'Units', 'Events', 'Images', 'Host', 'Workloads', 'Fleet', 'Updates'] as const;
export type BerthServiceName = (typeof BERTH_SERVICES)[number];
