/**
 * The paths every HTTP scenario compares; `direct` (first) is the reference the others are measured against.
 * @param {string} directLabel how the direct path is named in the report
 */
export function httpVariants(directLabel) {
  return [
    { id: "direct", label: directLabel },
    {
      id: "falgate-undici",
      label: "falgate, undici transport (default)",
      proc: "proxy",
      config: { transport: "undici" },
    },
    {
      id: "falgate-fetch",
      label: "falgate, global fetch transport",
      proc: "proxy",
      config: { transport: "fetch" },
    },
    { id: "baseline", label: "bare node:http pass-through (floor)", proc: "baseline", config: {} },
  ];
}
