import { createFalgateHandler } from "@falgate/h3/node";
import { falgate } from "../../../utils/falgate";

// Every method, `/api/fal/proxy` and the paths below it (the token route `/api/fal/proxy/token`). On a Node server
// `@falgate/h3/node` answers on Node's own request and response; `@falgate/h3` is the handler for other presets.
export default createFalgateHandler(falgate);
