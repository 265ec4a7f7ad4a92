// Rewrites text fields of a multipart body in place: only the bytes of the changed fields
// are replaced, so uploaded files go upstream exactly as the client sent them.

/** The boundary parameter of a multipart content type, quoted or not. */
export function multipartBoundary(contentType: string): string | null {
  const match = /;\s*boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  return match?.[1] ?? match?.[2] ?? null;
}

const HEADER_END = Buffer.from('\r\n\r\n');

/** The field name of a part's headers when it is a text field (no filename). */
function textFieldName(headers: string): string | null {
  const disposition = /^content-disposition:(.*)$/im.exec(headers)?.[1];
  if (!disposition || /;\s*filename\*?=/i.test(disposition)) return null;
  return /;\s*name="([^"]*)"/i.exec(disposition)?.[1] ?? null;
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
    const name = textFieldName(raw.subarray(headersStart, headersEnd).toString('latin1'));
    const valueStart = headersEnd + HEADER_END.length;
    if (name !== null && changed.has(name) && fields[name] !== undefined) {
      pieces.push(raw.subarray(copiedTo, valueStart), Buffer.from(fields[name]));
      copiedTo = next;
    }
    cursor = next + 2;
  }
  pieces.push(raw.subarray(copiedTo));
  return Buffer.concat(pieces);
}
