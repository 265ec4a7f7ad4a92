import { describe, expect, it } from 'vitest';
import { multipartBoundary, rewriteMultipartFields } from './multipart.js';

const boundary = 'XyZ123';
const body = Buffer.concat([
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="prompt"\r\n\r\nsay damn it\r\n`),
  Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="image"; filename="a.png"\r\n`),
  Buffer.from('Content-Type: image/png\r\n\r\n'),
  Buffer.from([0, 1, 2, 13, 10, 45, 45, 255]),
  Buffer.from(`\r\n--${boundary}\r\nContent-Disposition: form-data; name="user"\r\n\r\nu-1\r\n--${boundary}--\r\n`),
]);

describe('multipart field rewriting', () => {
  it('reads the boundary, quoted or not', () => {
    expect(multipartBoundary(`multipart/form-data; boundary=${boundary}`)).toBe(boundary);
    expect(multipartBoundary('multipart/form-data; boundary="a b"; charset=utf-8')).toBe('a b');
    expect(multipartBoundary('multipart/form-data')).toBeNull();
  });

  it('replaces only the changed text field and copies files and other fields byte for byte', () => {
    const out = rewriteMultipartFields(body, boundary, { prompt: 'say **** it', user: 'u-1' }, new Set(['prompt']));
    expect(out.toString('latin1')).toBe(body.toString('latin1').replace('say damn it', 'say **** it'));
  });

  it('replaces a changed file part (a redacted batch file) and nothing else', () => {
    const redacted = Buffer.from('{"line":1}\r\n');
    const out = rewriteMultipartFields(body, boundary, {}, new Set(), {
      files: { image: redacted },
      changed: new Set(['image']),
    });
    const before = body.toString('latin1');
    const start = before.indexOf('\r\n\r\n', before.indexOf('filename="a.png"')) + 4;
    const end = before.indexOf(`\r\n--${boundary}`, start);
    expect(out.toString('latin1')).toBe(before.slice(0, start) + redacted.toString('latin1') + before.slice(end));
  });

  it('leaves the body alone when nothing it holds changed', () => {
    expect(rewriteMultipartFields(body, boundary, { other: 'x' }, new Set(['other'])).equals(body)).toBe(true);
    expect(rewriteMultipartFields(body, 'nope', { prompt: 'x' }, new Set(['prompt'])).equals(body)).toBe(true);
  });
});
