/**
 * A page that calls fal through the proxy with a plain `fetch`, exactly as `@fal-ai/client` does with
 * `proxyUrl: "/api/fal/proxy"`: the fal URL goes in `x-fal-target-url`, the key never reaches the browser.
 */
export const PAGE = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<title>falgate + Fastify</title>
<h1>falgate + Fastify</h1>
<form id="form"><input name="prompt" value="a lighthouse at dusk" size="40"> <button>Generate</button></form>
<p id="status"></p>
<img id="image" alt="" width="256">
<script type="module">
  const form = document.getElementById("form");
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const status = document.getElementById("status");
    status.textContent = "Running…";
    const response = await fetch("/api/fal/proxy", {
      method: "POST",
      headers: { "content-type": "application/json", "x-fal-target-url": "https://fal.run/fal-ai/fast-sdxl" },
      body: JSON.stringify({ prompt: new FormData(form).get("prompt") }),
    });
    const body = await response.json();
    if (!response.ok) {
      status.textContent = body.error ? body.error.message : JSON.stringify(body.detail ?? body);
      return;
    }
    status.textContent = "Done.";
    document.getElementById("image").src = body.images[0].url;
  });
</script>
</html>
`;
