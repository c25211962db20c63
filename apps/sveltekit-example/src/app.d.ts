// See https://svelte.dev/docs/kit/types#app.d.ts
declare global {
  namespace App {
    interface Locals {
      /** Set by your session handling in src/hooks.server.ts; falgate's `authorize` can read it. */
      user: { id: string } | null;
    }
  }
}

export {};
