import { readdirSync } from 'node:fs';
import { extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Router } from 'express';
import { notFound } from '../errors.js';

// console/ sits at the repository root: two levels above src/http/routes and dist/http/routes alike.
const CONSOLE_DIR = fileURLToPath(new URL('../../../console/', import.meta.url));
const TYPES: Record<string, string> = { '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8' };
/** The files served: the scripts and styles in console/ as they are when the service starts, and no other path. */
const ASSETS = new Set(readdirSync(CONSOLE_DIR).filter((f) => Object.hasOwn(TYPES, extname(f))));

// Scripts and styles from this origin only, data only from the API (same origin), no inline script or style,
// no framing, no form posts anywhere: what the console needs and nothing more.
const HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
};

/**
 * The web console: static files, public (they hold nothing; every piece of data comes from the API, under its
 * guards, with the bearer token the person pastes). Not cached without revalidation, so an upgrade shows at once.
 */
export function consoleRouter(): Router {
  const r = Router();
  r.get('/console', (req, res) => {
    // The page's relative URLs are resolved against /console: from /console/ they would miss.
    if (req.path.endsWith('/')) return res.redirect(301, '../console');
    res.set(HEADERS).set('Cache-Control', 'no-cache');
    res.sendFile('index.html', { root: CONSOLE_DIR, cacheControl: false, headers: { 'Content-Type': 'text/html; charset=utf-8' } });
  });
  r.get('/console/assets/:file', (req, res, next) => {
    const file = String(req.params.file);
    if (!ASSETS.has(file)) return next(notFound());
    res.set(HEADERS).set('Cache-Control', 'no-cache');
    res.sendFile(
      join(CONSOLE_DIR, file),
      { cacheControl: false, headers: { 'Content-Type': TYPES[extname(file)]! } },
      (err) => err && next(err),
    );
  });
  return r;
}
