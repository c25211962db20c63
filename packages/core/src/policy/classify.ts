/** What a validated target URL means to fal: which app, which endpoint, which queue request. */
export interface FalTarget {
  kind: "run" | "queue-submit" | "queue-request" | "stream" | "realtime" | "token" | "storage" | "other";
  /** `fal-ai/flux`, `workflows/me/my-flow`, `comfy/me/wf`; `null` for non-app targets. */
  appId: string | null;
  /** App id plus path (`fal-ai/flux/dev`); for queue requests the app id alone, as fal drops the path there. */
  endpointId: string | null;
  /** The app name (`flux`, `fast-sdxl`): the vocabulary of a fal token's `allowed_apps`. */
  alias: string | null;
  /** The request id of queue request URLs (`.../requests/{id}[/status[/stream]|/cancel]`). */
  requestId: string | null;
  action:
    | "run"
    | "submit"
    | "status"
    | "status-stream"
    | "result"
    | "cancel"
    | "stream"
    | "realtime"
    | "token"
    | "upload"
    | null;
}

/** Namespaces that prefix the owner: `workflows/{owner}/{name}`, `comfy/{owner}/{name}`. */
export const APP_NAMESPACES: ReadonlySet<string> = new Set(["workflows", "comfy"]);

/** One owner, app or namespace segment: what fal app ids are made of (no `%`, no `*`). */
export const ID_SEGMENT = /^[A-Za-z0-9_~-][A-Za-z0-9._~-]*$/;

const RUN_HOST = "fal.run";
const QUEUE_HOST = "queue.fal.run";
const TOKEN_PATHS = new Set(["/tokens/", "/tokens"]);
const UPLOAD_PATHS = new Set(["/storage/upload/initiate", "/storage/upload/initiate-multipart"]);
// A Map, not an object literal: `requests/{id}/constructor` must not find `Object.prototype.constructor`.
const REQUEST_ACTIONS: ReadonlyMap<string, FalTarget["action"]> = new Map([
  ["", "result"],
  ["status", "status"],
  ["status/stream", "status-stream"],
  ["cancel", "cancel"],
]);

const OTHER: FalTarget = Object.freeze({
  kind: "other",
  appId: null,
  endpointId: null,
  alias: null,
  requestId: null,
  action: null,
});

/** Splits an app id off the front of `segments`: 2 segments, or 3 after a namespace. `null` if there is none. */
export function splitAppId(
  segments: readonly string[],
): { appId: string; alias: string; length: number } | null {
  const length = APP_NAMESPACES.has(segments[0] ?? "") ? 3 : 2;
  if (segments.length < length) return null;
  const id = segments.slice(0, length);
  if (!id.every((segment) => ID_SEGMENT.test(segment))) return null;
  return { appId: id.join("/"), alias: id[length - 1]!, length };
}

/** Path segments without the leading slash and one trailing slash; `null` when a segment is empty. */
function pathSegments(pathname: string): string[] | null {
  const trimmed = pathname.replace(/^\//, "").replace(/\/$/, "");
  if (trimmed === "") return [];
  const segments = trimmed.split("/");
  return segments.includes("") ? null : segments;
}

/**
 * Classifies a target URL already validated by the target policy. Method-agnostic: the same URL means the same
 * app whatever the method. App forms are only recognised on `fal.run` and `queue.fal.run`; token and upload
 * paths on any other (allowed) host.
 */
export function classifyTarget(url: URL): FalTarget {
  const host = url.hostname;
  if (host !== RUN_HOST && host !== QUEUE_HOST) {
    if (TOKEN_PATHS.has(url.pathname)) return { ...OTHER, kind: "token", action: "token" };
    if (UPLOAD_PATHS.has(url.pathname)) return { ...OTHER, kind: "storage", action: "upload" };
    return OTHER;
  }
  const segments = pathSegments(url.pathname);
  const app = segments && splitAppId(segments);
  if (!segments || !app) return OTHER;
  const { appId, alias } = app;
  const rest = segments.slice(app.length);
  const endpoint = (tail: readonly string[]) => [appId, ...tail].join("/");

  if (host === QUEUE_HOST) {
    if (rest[0] === "requests" && rest.length >= 2) {
      const action = REQUEST_ACTIONS.get(rest.slice(2).join("/"));
      if (action)
        return { kind: "queue-request", appId, endpointId: appId, alias, requestId: rest[1]!, action };
    }
    // Unknown forms below `requests/` are judged by their full path, the stricter reading.
    return {
      kind: "queue-submit",
      appId,
      endpointId: endpoint(rest),
      alias,
      requestId: null,
      action: "submit",
    };
  }
  const last = rest[rest.length - 1];
  if (last === "stream" || last === "realtime") {
    return {
      kind: last,
      appId,
      endpointId: endpoint(rest.slice(0, -1)),
      alias,
      requestId: null,
      action: last,
    };
  }
  return { kind: "run", appId, endpointId: endpoint(rest), alias, requestId: null, action: "run" };
}
