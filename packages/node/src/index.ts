// The app-facing API of @falgate/node: the Node binding, the realtime tunnel, the standalone server.
export { type CliCommand, CliError, type CliLogOptions, parseCliArgs } from "./cli-args.js";
export { type CliIo, type CliRun, runCli } from "./cli-run.js";
export {
  closeDispatcher,
  createNodeHandler,
  type NodeContext,
  type NodeHandler,
  type NodeHandlerOptions,
} from "./handler.js";
export {
  type ListenOptions,
  type MetricsListenOptions,
  type RunningServer,
  SERVER_DEFAULTS,
  type ServerOptions,
  startServer,
} from "./server.js";
export { createUndiciFetch, type UndiciFetch, type UndiciFetchOptions } from "./transport.js";
export { attachTunnel, createTunnel, type NodeTunnel, type TunnelSnapshot } from "./tunnel.js";
