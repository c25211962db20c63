export function meta() {
  return [{ title: "falgate + React Router" }];
}

export default function Home() {
  return (
    <main>
      <h1>falgate + React Router</h1>
      <p>
        The fal proxy is at <code>/api/fal/proxy</code>: configure <code>@fal-ai/client</code> with{" "}
        <code>proxyUrl: "/api/fal/proxy"</code>.
      </p>
    </main>
  );
}
