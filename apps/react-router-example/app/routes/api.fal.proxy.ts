import { createFalgateHandler } from "@falgate/react-router";
import { falgate } from "../falgate.server";

// GET, HEAD and OPTIONS reach the loader; POST, PUT, PATCH and DELETE the action. Export them one by one: React
// Router's build strips `loader`/`action` from the browser bundle and cannot do so for a destructuring export.
const proxy = createFalgateHandler(falgate);
export const loader = proxy.loader;
export const action = proxy.action;
