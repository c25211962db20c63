import { cookies } from "next/headers";
import { DEMO_APPS, readCookie, SESSION_COOKIE } from "../lib/falgate-config.mjs";
import { UsageMeter } from "./components/meter";
import { QueueCard } from "./components/queue";
import { RealtimeCard } from "./components/realtime";
import { RefusedCard } from "./components/refused";
import { Session } from "./components/session";
import { StreamCard } from "./components/stream";
import { UploadCard } from "./components/upload";

export const dynamic = "force-dynamic";

export default async function Page() {
  const jar = await cookies();
  const raw = jar.get(SESSION_COOKIE)?.value ?? null;
  const user = raw === null ? null : readCookie(`${SESSION_COOKIE}=${raw}`, SESSION_COOKIE);
  // Set by server.mjs in mock mode (the mock's URL, for falgate's `upstream`; the page never links to it).
  const mock = Boolean(process.env.FALGATE_DEMO_UPSTREAM);
  return (
    <main>
      <header className="top">
        <div>
          <h1>
            falgate <span className="muted">demo</span>
          </h1>
          <p className="lede">
            Every call on this page goes from your browser to <code>/api/fal/proxy</code>, where falgate
            checks who you are and which app you call, adds the fal key and forwards. The browser never sees
            the key.
          </p>
        </div>
        <div className="top-right">
          <span className={`mode ${mock ? "mock" : "live"}`} data-testid="mode">
            {mock ? "offline: local mock of fal" : "live: fal.ai"}
          </span>
          <Session user={user} />
        </div>
      </header>
      {user === null ? (
        <div className="banner" data-testid="signed-out-banner">
          You are signed out. falgate&apos;s <code>authorize</code> hook finds no session, so every call below
          is refused with <code>401 unauthenticated</code>. Try one to see it, then sign in.
        </div>
      ) : null}
      <UsageMeter signedIn={user !== null} />
      <div className="grid">
        <QueueCard app={DEMO_APPS.queue} />
        <StreamCard app={DEMO_APPS.stream} />
        <UploadCard app={DEMO_APPS.imageToImage} />
        <RefusedCard />
        <RealtimeCard app={DEMO_APPS.realtime} mock={mock} />
      </div>
      <footer className="muted">
        Realtime works through the tunnel because this app runs on a custom server (<code>server.mjs</code>)
        that attaches falgate&apos;s WebSocket tunnel next to Next.js. See <code>docs/realtime.md</code>.
      </footer>
    </main>
  );
}
