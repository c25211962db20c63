// The adapter's peer range is Next 14 || 15 || 16. The other test files run on the current major (devDependency
// `next`); this one runs the same conformance suite and official-client scenarios on the latest 14.x and 15.x,
// installed side by side as `next14` / `next15`, through each release's own `NextRequest` and Pages API resolver.
import { describeConformance, describeFalClient } from "@falgate/testkit";
import { apiResolver as apiResolver14 } from "next14/dist/server/api-utils/node/api-resolver.js";
import next14Package from "next14/package.json" with { type: "json" };
import { NextRequest as NextRequest14 } from "next14/server.js";
import { apiResolver as apiResolver15 } from "next15/dist/server/api-utils/node/api-resolver.js";
import next15Package from "next15/package.json" with { type: "json" };
import { NextRequest as NextRequest15 } from "next15/server.js";
import { expect, test } from "vitest";
import { type ApiResolver, appRouterStarter, type NextRequestClass, pagesStarter } from "./starters.js";

const releases: {
  major: number;
  version: string;
  NextRequest: NextRequestClass;
  apiResolver: ApiResolver;
}[] = [
  { major: 14, version: next14Package.version, NextRequest: NextRequest14, apiResolver: apiResolver14 },
  { major: 15, version: next15Package.version, NextRequest: NextRequest15, apiResolver: apiResolver15 },
];

test("the side-by-side releases are the majors they claim to be", () => {
  for (const r of releases) expect(r.version.split(".")[0]).toBe(String(r.major));
});

for (const { version, NextRequest, apiResolver } of releases) {
  const app = appRouterStarter(NextRequest);
  const pages = pagesStarter(apiResolver, { api: { bodyParser: false, responseLimit: false } });
  describeConformance({ name: `Next ${version} App Router with NextRequest`, start: app });
  describeFalClient({ name: `Next ${version} App Router with NextRequest`, start: app });
  describeConformance({ name: `Next ${version} Pages Router (bodyParser: false)`, start: pages });
  describeFalClient({ name: `Next ${version} Pages Router (bodyParser: false)`, start: pages });
}
