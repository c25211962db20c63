export default function Home() {
  return (
    <main>
      <h1>falgate + Next.js</h1>
      <p>
        The fal proxy is mounted at <code>/api/fal/proxy</code> (Node.js runtime), <code>/api/fal/edge</code>{" "}
        (Edge runtime) and <code>/api/fal/pages-proxy</code> (Pages Router).
      </p>
    </main>
  );
}
