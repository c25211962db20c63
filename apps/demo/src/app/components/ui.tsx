import type { ReactNode } from "react";
import type { ReadableError } from "../../lib/errors";

/** One demo section. */
export function Card(props: { title: string; path: string; children: ReactNode; testId: string }) {
  return (
    <section className="card" data-testid={props.testId}>
      <header>
        <h2>{props.title}</h2>
        <code className="path">{props.path}</code>
      </header>
      {props.children}
    </section>
  );
}

/** A readable error, or nothing. */
export function ErrorBox(props: { error: ReadableError | null; testId: string }) {
  if (props.error === null) return null;
  return (
    <div className="error" role="alert" data-testid={props.testId}>
      <strong>{props.error.title}</strong>
      <span>{props.error.detail}</span>
      {props.error.retry ? <span className="retry">{props.error.retry}</span> : null}
    </div>
  );
}

/** A square image slot with a placeholder while empty. */
export function ImageSlot(props: { src: string | null; alt: string; testId: string; caption?: string }) {
  return (
    <figure className="slot">
      {props.src ? (
        // biome-ignore lint/performance/noImgElement: results come from fal's CDN (or the mock) at arbitrary URLs
        <img src={props.src} alt={props.alt} data-testid={props.testId} width={256} height={256} />
      ) : (
        <div className="placeholder">{props.alt}</div>
      )}
      {props.caption ? <figcaption>{props.caption}</figcaption> : null}
    </figure>
  );
}

/** A small status pill. */
export function Badge(props: {
  children: ReactNode;
  tone?: "idle" | "busy" | "ok" | "bad";
  testId?: string;
}) {
  return (
    <span className={`badge ${props.tone ?? "idle"}`} data-testid={props.testId}>
      {props.children}
    </span>
  );
}
