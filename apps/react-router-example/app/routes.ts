import { index, type RouteConfig, route } from "@react-router/dev/routes";

export default [
  index("routes/home.tsx"),
  // A splat resource route: `/api/fal/proxy` itself and the paths below it (the token route `/api/fal/proxy/token`).
  route("api/fal/proxy/*", "routes/api.fal.proxy.ts"),
] satisfies RouteConfig;
