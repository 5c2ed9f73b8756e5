/**
 * Why a content piece's `sourcePath` is unacceptable, or null when it is a clean relative path.
 * Traversal is refused in every spelling: percent-encoded (also twice), backslashes, mixed separators.
 */
export function sourcePathProblem(path: string): string | null {
  if (path.length === 0) return 'must not be empty';
  if (Buffer.byteLength(path, 'utf8') > 1024) return 'must be at most 1024 bytes';
  // Decode repeatedly so that %252e%252e (encoded twice) is seen as what it finally means.
  const decoded = fullyDecoded(path);
  if (decoded === null) return 'has an invalid or too deeply nested percent-encoding';
  for (const form of [path, decoded]) {
    if (/[\u0000-\u001f\u007f]/.test(form)) return 'must not contain NUL or control characters';
    const unified = form.replace(/\\/g, '/');
    if (unified.startsWith('/') || /^[A-Za-z]:/.test(unified) || unified.startsWith('~')) return 'must be a relative path';
    const segments = unified.split('/');
    if (segments.some((s) => s === '')) return 'must not have empty segments';
    if (segments.some((s) => s.trim() === '..' || s.trim() === '.')) return "must not have '.' or '..' segments";
  }
  return null;
}

/** The path with percent-encoding undone until stable (at most 3 rounds); null if it does not settle. */
function fullyDecoded(path: string): string | null {
  let decoded = path;
  for (let i = 0; i <= 3; i++) {
    let next: string;
    try {
      next = decodeURIComponent(decoded);
    } catch {
      return null;
    }
    if (next === decoded) return decoded;
    decoded = next;
  }
  return null;
}

/**
 * One spelling per file, for uniqueness: decoded, backslashes as slashes, Unicode NFC. `kb/a.md`,
 * `kb%2Fa.md` and `kb\a.md` are the same piece of content.
 */
export function canonicalSourcePath(path: string): string {
  return (fullyDecoded(path) ?? path).replace(/\\/g, '/').normalize('NFC');
}
