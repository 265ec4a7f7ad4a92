// Rewrites parts of a multipart body in place: only the bytes of the changed text fields
// (and of a changed file, such as a redacted batch file) are replaced, so everything else
// goes upstream exactly as the client sent it.

/** The boundary parameter of a multipart content type, quoted or not. */
export function multipartBoundary(contentType: string): string | null {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The field name of a part's headers, and whether the part is a file (has a filename). */
function partName(headers: string): { name: string; file: boolean } | null {
  const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1];
  const name = disposition ? /;\s*name="([^"]*)"/i.exec(disposition)?.[1] : undefined;
  if (!disposition || name === undefined) return null;
  return { name, file: /;\s*filename\*?=/i.test(disposition) };
}

/** File parts to replace: their new bytes by field name, and which of them changed. */
export interface FileRewrites {
  files: Readonly<Record<string, Buffer>>;
  changed: ReadonlySet<string>;
}

/**
 * The body with the values of `changed` fields replaced by `fields[name]`. Every other byte
 * — boundaries, headers, files, untouched fields — is copied as it was.
 */
export function rewriteMultipartFields(
  raw: Buffer,
  boundary: string,
  fields: Readonly<Record<string, string>>,
  changed: ReadonlySet<string>,
  fileRewrites: FileRewrites = { files: {}, changed: new Set() },
): Buffer {
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const pieces: Buffer[] = [];
  // The first delimiter has no CRLF before it when the body starts with it.
  let cursor = raw.indexOf(`--${boundary}`);
  if (cursor < 0) return raw;
  let copiedTo = 0;
  for (;;) {
    const headersStart = cursor;
    const headersEnd = raw.indexOf(HEADER_END, headersStart);
    const next = raw.indexOf(delimiter, headersStart);
    if (headersEnd < 0 || next < 0 || headersEnd > next) break;
    const part = partName(raw.subarray(headersStart, headersEnd).toString('latin1'));
    const valueStart = headersEnd + HEADER_END.length;
    const replacement = !part
      ? undefined
      : part.file
        ? fileRewrites.changed.has(part.name)
          ? fileRewrites.files[part.name]
          : undefined
        : changed.has(part.name) && fields[part.name] !== undefined
          ? Buffer.from(fields[part.name] as string)
          : undefined;
    if (replacement !== undefined) {
      pieces.push(raw.subarray(copiedTo, valueStart), replacement);
      copiedTo = next;
    }
    cursor = next + 2;
  }
  pieces.push(raw.subarray(copiedTo));
  return Buffer.concat(pieces);
}
