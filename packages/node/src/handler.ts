import type { IncomingMessage, ServerResponse } from "node:http";
import type { Falgate, FalgateOptions } from "@falgate/core";
import { bindingOf, errorReply, type Settings, toFalgate } from "@falgate/core/binding";
import { Agent, type Dispatcher } from "undici";
import { forwardNode } from "./forward.js";
import { NodeInput, type ParsedIncomingMessage } from "./input.js";
import { writeReply } from "./reply.js";

/** The framework context the plain Node binding hands to hooks: the request and response themselves. */
export interface NodeContext {
  req: IncomingMessage;
  res: ServerResponse;
}

/** A Node `(req, res)` listener; the promise resolves when the answer is over and never rejects. */
export type NodeHandler<
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
> = (req: Req, res: Res) => Promise<void>;

/** Options of {@link createNodeHandler}. */
export interface NodeHandlerOptions<
  C extends object,
  Req extends IncomingMessage,
  Res extends ServerResponse,
> {
  /** The framework context hooks receive (e.g. Express's `{ req, res }` with its own types). @default { req, res } */
  context?: (req: Req, res: Res) => C;
  /** The undici dispatcher that reaches fal. @default one keep-alive `Agent` per instance (`timeouts.connect` applied) */
  dispatcher?: Dispatcher;
  /** A body the framework kept after consuming the request stream itself (e.g. Hono's body cache). */
  keptBody?: (req: Req) => Uint8Array | null | undefined;
}

const agents = new WeakMap<object, Agent>();

/** The keep-alive connection pool of an instance, created on first use and shared by its bindings. */
export function dispatcherFor(settings: Settings<object>): Agent {
  let agent = agents.get(settings);
  if (!agent) {
    agent = new Agent({
      connect: { timeout: settings.timeouts.connect || 2_147_483_647 },
      keepAliveTimeout: 4_000,
      pipelining: 1,
      // Per-request timeouts come from the plan; these only bound requests sent outside it.
      headersTimeout: 0,
      bodyTimeout: 0,
    });
    agents.set(settings, agent);
  }
  return agent;
}

/** Closes the connection pool of an instance (the standalone server does this when it stops). */
export async function closeDispatcher(falgate: Falgate<never>): Promise<void> {
  const settings = bindingOf(falgate).settings as object;
  const agent = agents.get(settings);
  agents.delete(settings);
  await agent?.close();
}

/**
 * The falgate binding for Node's `http` module: the core decides, this moves the bytes natively (undici and Node
 * streams end to end; no Web `Request`/`Response` unless a hook reads its `Request`). `process.env` is the platform
 * env, read live; `options.env` is layered over it. Takes an instance (shared with `attachTunnel`) or options.
 * @example
 * const falgate = createFalgate({ authorize: (request, { req }) => userOf(req) });
 * http.createServer(createNodeHandler(falgate)).listen(3000);
 */
export function createNodeHandler<
  C extends object = NodeContext,
  Req extends IncomingMessage = IncomingMessage,
  Res extends ServerResponse = ServerResponse,
>(
  falgate: Falgate<C> | FalgateOptions<C>,
  options: NodeHandlerOptions<C, Req, Res> = {},
): NodeHandler<Req, Res> {
  const instance = toFalgate(falgate);
  const { settings, decide } = bindingOf(instance);
  const dispatcher = options.dispatcher ?? dispatcherFor(settings as Settings<object>);
  const context = options.context ?? ((req: Req, res: Res) => ({ req, res }) as unknown as C);
  const { keptBody } = options;
  const { trustProxy } = settings;

  return async function falgateNodeHandler(req, res) {
    try {
      const input = new NodeInput(req as ParsedIncomingMessage, trustProxy, keptBody?.(req));
      const decision = await decide(input, {
        env: process.env,
        context: context(req, res),
        ip: req.socket?.remoteAddress ?? null,
      });
      if (decision.kind === "reply") return await writeReply(res, decision.reply);
      return await forwardNode(decision.plan, req, res, input.parsed, dispatcher);
    } catch (error) {
      // Only a bug gets here (decide never rejects): answer 500 if nothing was sent, and log it.
      settings.logger.error("unexpected error in the Node binding", {
        error: error instanceof Error ? `${error.name}: ${error.message.slice(0, 300)}` : typeof error,
      });
      if (!res.headersSent) await writeReply(res, errorReply(error));
      else res.destroy();
    }
  };
}
