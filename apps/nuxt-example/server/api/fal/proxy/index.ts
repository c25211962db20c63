// `[...path]` matches only paths below `/api/fal/proxy`; the proxy itself is this route.
export { default } from "./[...path]";
