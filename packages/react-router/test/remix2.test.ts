/**
 * Remix 2: the same adapter in a resource route, served by Remix's own request handler on `@remix-run/express`
 * (Express 4, as Remix 2's Express template runs it). The server build is written by hand (a root and the splat
 * route `routes/api.fal.proxy.$`, the shape `remix vite:build` emits for them) rather than compiled: what is under
 * test is Remix's runtime calling the route module, not its compiler.
 */
import { createServer } from "node:http";
import {
  describeConformance,
  describeFalClient,
  listen,
  type StartHandler,
  silentLogger,
} from "@falgate/testkit";
import { createRequestHandler } from "@remix-run/express";
import type { ServerBuild } from "@remix-run/node";
import express from "express";
import { createFalgate, createFalgateHandler } from "../src/index.js";

const ROUTE = "routes/api.fal.proxy.$";

function remixBuild(module: { loader: unknown; action: unknown }): ServerBuild {
  const route = { id: ROUTE, parentId: "root", path: "api/fal/proxy/*", module };
  const assetsRoute = {
    id: ROUTE,
    parentId: "root",
    path: "api/fal/proxy/*",
    module: "/assets/route.js",
    hasAction: true,
    hasLoader: true,
    hasClientAction: false,
    hasClientLoader: false,
    hasErrorBoundary: false,
  };
  return {
    mode: "production",
    entry: {
      module: {
        default: () => new Response("no documents in this build", { status: 500 }),
      },
    },
    routes: {
      root: { id: "root", path: "", module: {} },
      [ROUTE]: route,
    },
    assets: {
      entry: { imports: [], module: "/assets/entry.js" },
      routes: {
        root: {
          ...assetsRoute,
          id: "root",
          path: "",
          parentId: undefined,
          hasAction: false,
          hasLoader: false,
        },
        [ROUTE]: assetsRoute,
      },
      url: "/assets/manifest.js",
      version: "test",
    },
    publicPath: "/",
    assetsBuildDirectory: "public/build",
    future: {},
    isSpaMode: false,
  } as unknown as ServerBuild;
}

const start: StartHandler = async (options) => {
  const falgate = createFalgate({ ...options, logger: silentLogger() });
  const app = express();
  app.disable("x-powered-by");
  // @remix-run/express is typed against its own copy of @types/express; the handler is the same function.
  const handler = createRequestHandler({
    build: remixBuild(createFalgateHandler(falgate)),
    mode: "production",
  });
  app.all("*", handler as unknown as Parameters<typeof app.all>[1]);
  const server = await listen(createServer(app));
  return { url: `${server.origin}/api/fal/proxy`, close: server.close };
};

describeConformance({ name: "Remix 2 (@remix-run/express)", start });
describeFalClient({ name: "Remix 2 (@remix-run/express)", start });
