import { createHash, type Hash, randomBytes, randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { StoredFile } from "./types.js";

interface Part {
  size: number;
  sha256: string;
  etag: string;
  bytes: Buffer | undefined;
}

interface Entry extends StoredFile {
  token: string;
  multipart: boolean;
  parts: Map<number, Part>;
  /** In-order hash over multipart parts, for uploads too large to keep. */
  running: { hash: Hash; next: number; broken: boolean };
}

/** The mock CDN: uploads hashed while streaming, kept in memory up to a shared cap. */
export class FileStore {
  private readonly files = new Map<string, Entry>();
  private used = 0;

  constructor(
    private readonly limit: number,
    private readonly baseUrl: () => string,
  ) {}

  /** Registers an upload and returns its entry (with the secret token its upload URL carries). */
  create(fileName: string, contentType: string, multipart: boolean): Entry {
    const id = randomUUID().replaceAll("-", "");
    const entry: Entry = {
      id,
      fileName,
      contentType,
      size: 0,
      sha256: "",
      complete: false,
      url: `${this.baseUrl()}/_cdn/files/${id}/${encodeURIComponent(fileName)}`,
      token: randomBytes(12).toString("hex"),
      multipart,
      parts: new Map(),
      running: { hash: createHash("sha256"), next: 1, broken: false },
    };
    this.files.set(id, entry);
    return entry;
  }

  /** The upload URL a client PUTs to (`/_cdn/upload/...` or the multipart base). */
  uploadUrl(entry: Entry): string {
    return `${this.baseUrl()}/_cdn/${entry.multipart ? "multipart" : "upload"}/${entry.id}?token=${entry.token}`;
  }

  /** The entry for an id, if its token matches (when a token is given). */
  get(id: string, token?: string | null): Entry | undefined {
    const entry = this.files.get(id);
    if (!entry || (token !== undefined && token !== entry.token)) return undefined;
    return entry;
  }

  /** A public view of the file behind a `file_url` or an id. */
  lookup(urlOrId: string): StoredFile | undefined {
    const match = /\/_cdn\/files\/([0-9a-f]+)/.exec(urlOrId);
    const entry = this.files.get(match ? match[1]! : urlOrId);
    if (!entry) return undefined;
    const { token: _t, multipart: _m, parts: _p, running: _r, ...file } = entry;
    return { ...file };
  }

  /** Streams a single-PUT upload into the entry. */
  async receive(entry: Entry, body: Readable): Promise<void> {
    this.release(entry.bytes);
    entry.bytes = undefined;
    entry.complete = false;
    const result = await this.consume(body);
    entry.size = result.size;
    entry.sha256 = result.sha256;
    entry.bytes = result.bytes;
    entry.complete = true;
  }

  /** Streams one multipart part; returns its etag. */
  async receivePart(entry: Entry, partNumber: number, body: Readable): Promise<Part> {
    const previous = entry.parts.get(partNumber);
    if (previous) {
      this.release(previous.bytes);
      entry.running.broken = true; // a re-sent part invalidates the in-order hash
    }
    const inOrder = !entry.running.broken && partNumber === entry.running.next;
    try {
      const result = await this.consume(body, inOrder ? entry.running.hash : undefined);
      const part: Part = { ...result, etag: `"${result.sha256.slice(0, 32)}"` };
      entry.parts.set(partNumber, part);
      if (inOrder) entry.running.next += 1;
      else entry.running.broken = true;
      return part;
    } catch (error) {
      if (inOrder) entry.running.broken = true;
      throw error;
    }
  }

  /** Assembles a multipart upload from the parts the client lists; `undefined` when they do not match. */
  complete(entry: Entry, listed: { partNumber: number; etag: string }[]): StoredFile | undefined {
    const parts: Part[] = [];
    for (const { partNumber, etag } of [...listed].sort((a, b) => a.partNumber - b.partNumber)) {
      const part = entry.parts.get(partNumber);
      if (!part || part.etag !== etag) return undefined;
      parts.push(part);
    }
    entry.size = parts.reduce((sum, p) => sum + p.size, 0);
    if (parts.every((p) => p.bytes)) {
      entry.bytes = Buffer.concat(parts.map((p) => p.bytes!));
      entry.sha256 = createHash("sha256").update(entry.bytes).digest("hex");
    } else {
      const running = entry.running;
      const ordered = listed.length === running.next - 1 && !running.broken;
      entry.sha256 = ordered ? running.hash.digest("hex") : "";
      for (const p of parts) this.release(p.bytes);
    }
    entry.parts.clear();
    entry.complete = true;
    return this.lookup(entry.id);
  }

  /** Forgets every file. */
  clear(): void {
    this.files.clear();
    this.used = 0;
  }

  private async consume(
    body: Readable,
    alsoHash?: Hash,
  ): Promise<{ size: number; sha256: string; bytes: Buffer | undefined }> {
    const hash = createHash("sha256");
    let kept: Buffer[] | undefined = [];
    let size = 0;
    try {
      for await (const chunk of body) {
        const buffer = chunk as Buffer;
        hash.update(buffer);
        alsoHash?.update(buffer);
        size += buffer.length;
        if (kept) {
          if (this.used + buffer.length > this.limit) {
            this.used -= size - buffer.length;
            kept = undefined;
          } else {
            this.used += buffer.length;
            kept.push(buffer);
          }
        }
      }
    } catch (error) {
      if (kept) this.used -= size;
      throw error;
    }
    return { size, sha256: hash.digest("hex"), bytes: kept ? Buffer.concat(kept) : undefined };
  }

  private release(bytes: Buffer | undefined): void {
    if (bytes) this.used -= bytes.length;
  }
}

/** The file entry type (for routes). */
export type FileEntry = Entry;
