import type { Logger } from "../types.js";
import type { FalgateEvent, FalgateObserver } from "./types.js";

/** The fan-out of falgate's events to its observers. */
export interface Emitter {
  /** True when someone listens: callers skip building events otherwise. */
  readonly active: boolean;
  /** Hands `event` to every observer; a throwing observer is logged and never stops the others. */
  emit(event: FalgateEvent): void;
  /** Adds an observer; returns the function that removes it. */
  add(observer: FalgateObserver): () => void;
}

/** Creates the emitter of one instance. */
export function createEmitter(logger: Logger, initial: readonly FalgateObserver[]): Emitter {
  let observers: readonly FalgateObserver[] = [...initial];
  return {
    get active() {
      return observers.length > 0;
    },
    emit(event) {
      for (const observer of observers) {
        try {
          observer(event);
        } catch (error) {
          logger.error("a falgate observer failed", {
            event: event.type,
            error: error instanceof Error ? error.message : String(error),
          });
        }
      }
    },
    add(observer) {
      if (typeof observer !== "function") throw new TypeError("falgate: an observer must be a function");
      observers = [...observers, observer];
      return () => {
        observers = observers.filter((o) => o !== observer);
      };
    },
  };
}
