export { type CliCommand, CliError, parseCliArgs } from "./cli-args.js";
export { createNodeFalgate, type NodeHandlerOptions, toNodeHandler } from "./handler.js";
export { type NodeRequestOptions, toWebRequest } from "./request.js";
export { writeWebResponse } from "./response.js";
export { type RunningServer, type ServerOptions, startServer } from "./server.js";
export { createUndiciFetch, type UndiciFetch, type UndiciFetchOptions } from "./transport.js";
// Realtime WebSocket binding: src/tunnel.ts is owned by the tunnel engineer.
export * from "./tunnel.js";
