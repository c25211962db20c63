// The soak's tunnel clients, in their own process on the load cores: they open many realtime tunnels through
// falgate as browsers would (a fresh single-use falgate token per connection, minted with the proxy's token
// secret as an app's token route would: procs/falgate.mjs `tunnelClient`), keep them idle, and count how each
// one ends. Steps are run on request (`calls`, lib/child.mjs), so the orchestrator measures falgate between them.
import { randomBytes } from "node:crypto";
import { performance } from "node:perf_hooks";
import { runChild } from "../lib/child.mjs";
import { openSocket, roundTrips } from "../lib/ws-load.mjs";
import { tunnelClient } from "./falgate.mjs";

runChild(async ({ secret, wsUrl, app }) => {
  const client = await tunnelClient(secret);
  const sockets = [];
  const tally = { opened: 0, failed: 0, errors: 0, open: 0, closes: {} };

  /** Opens `count` tunnels, `batch` at a time, principal `<prefix>-<i mod principals>` for the i-th. */
  async function open({ count, batch, principals, prefix = "soak" }) {
    const start = performance.now();
    let firstError;
    for (let done = 0; done < count; done += batch) {
      const n = Math.min(batch, count - done);
      const urls = await Promise.all(
        Array.from({ length: n }, (_, i) => client.url(wsUrl, app, `${prefix}-${(done + i) % principals}`)),
      );
      const opened = await Promise.allSettled(urls.map((url) => openSocket(url)));
      for (const result of opened) {
        if (result.status === "rejected") {
          tally.failed++;
          firstError ??= result.reason?.message ?? String(result.reason);
          continue;
        }
        track(result.value);
      }
    }
    return { opened: tally.opened, failed: tally.failed, firstError, ms: performance.now() - start };
  }

  function track(socket) {
    tally.opened++;
    tally.open++;
    sockets.push(socket);
    socket.on("error", () => {
      tally.errors++;
    });
    socket.once("close", (code) => {
      tally.open--;
      tally.closes[code] = (tally.closes[code] ?? 0) + 1;
    });
  }

  /** One 64-byte echo on every `every`-th open tunnel: they are idle, not dead. */
  async function echo({ every }) {
    const payload = randomBytes(64);
    const sample = sockets.filter((_, i) => i % every === 0);
    const results = await Promise.allSettled(sample.map((socket) => roundTrips(socket, payload, 1)));
    const failed = results.filter((r) => r.status === "rejected");
    return { tried: sample.length, failed: failed.length, firstError: failed[0]?.reason?.message };
  }

  /** Resolves once every tunnel is closed, or after `timeoutMs`, with how they ended. */
  async function closed({ timeoutMs }) {
    const deadline = performance.now() + timeoutMs;
    while (tally.open > 0 && performance.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    return probe();
  }

  /** Closes every tunnel (1000) and waits; then forgets them (the warm-up's tunnels). Returns how they ended. */
  async function closeAll({ timeoutMs }) {
    for (const socket of sockets) socket.close(1000, "done");
    const ended = await closed({ timeoutMs });
    sockets.length = 0;
    Object.assign(tally, { opened: 0, failed: 0, errors: 0, open: 0, closes: {} });
    return ended;
  }

  function probe() {
    return { ...tally, closes: { ...tally.closes } };
  }

  return {
    info: {},
    probe,
    calls: { open, echo, closed, closeAll },
    close: async () => {
      for (const socket of sockets) socket.terminate();
    },
  };
});
