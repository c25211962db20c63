import { createFalgateHandler } from "@falgate/next/pages";
import { falgateOptions } from "../../../../lib/falgate";

// The proxy as a Pages Router API route. Next must not parse the body (binary uploads pass as sent), and
// streamed answers have no size limit.
export default createFalgateHandler(falgateOptions);
export const config = { api: { bodyParser: false, responseLimit: false } };
