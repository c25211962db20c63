declare namespace App {
  interface Locals {
    /** Set by your session handling in src/middleware.ts; falgate's `authorize` can read it. */
    user: { id: string } | null;
  }
}
