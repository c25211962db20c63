/**
 * Counts open tunnels per principal for the per-principal cap. Share one implementation across
 * instances (e.g. `@falgate/redis`: a sorted set of slots with deadlines) for a cluster-wide cap.
 */
export interface TunnelCounter {
  /** Takes a slot for `principal`; resolves `false` (and takes nothing) when `limit` slots are taken. */
  acquire(principal: string, limit: number): boolean | Promise<boolean>;
  /** Gives back a slot taken by `acquire`. */
  release(principal: string): void | Promise<void>;
}

/** An in-process {@link TunnelCounter} (per instance); it forgets principals with no open tunnel. */
export function createMemoryTunnelCounter(): TunnelCounter & { count(principal: string): number } {
  const open = new Map<string, number>();
  return {
    acquire(principal, limit) {
      const n = open.get(principal) ?? 0;
      if (limit > 0 && n >= limit) return false;
      open.set(principal, n + 1);
      return true;
    },
    release(principal) {
      const n = open.get(principal) ?? 0;
      if (n <= 1) open.delete(principal);
      else open.set(principal, n - 1);
    },
    count(principal) {
      return open.get(principal) ?? 0;
    },
  };
}
