import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import { Router } from 'express';
import { notFound } from '../errors.js';
import { openApiDocument } from '../openapi/index.js';

const swaggerUiDir = dirname(createRequire(import.meta.url).resolve('swagger-ui-dist/package.json'));

/** The files of swagger-ui-dist the page uses; nothing else of the package (nor any path) is served. */
const ASSETS: Record<string, string> = {
  'swagger-ui.css': 'swagger-ui.css',
  'swagger-ui-bundle.js': 'swagger-ui-bundle.js',
};

// An external script, not an inline one: the page's CSP allows scripts from this origin only.
// validatorUrl: null, or Swagger UI loads a badge from validator.swagger.io. The URLs are relative to the page,
// so that they hold under whatever prefix a proxy serves this from.
const INIT_SCRIPT = `window.addEventListener('load', function () {
  window.ui = SwaggerUIBundle({ url: 'openapi.json', dom_id: '#swagger-ui', deepLinking: true, validatorUrl: null });
});
`;

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>crm-outreach API</title>
<link rel="stylesheet" href="docs/assets/swagger-ui.css">
</head>
<body>
<div id="swagger-ui"></div>
<script src="docs/assets/swagger-ui-bundle.js"></script>
<script src="docs/assets/init.js"></script>
</body>
</html>
`;

// Everything from this origin: the page works offline, and a browser refuses anything that would load from elsewhere.
const PAGE_HEADERS = {
  'Content-Security-Policy':
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; font-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
};

/** `GET /openapi.json` and the reference page `GET /docs`. Public: the document holds no secret nor configuration. */
export function docsRouter(): Router {
  const r = Router();
  r.get('/openapi.json', (_req, res) => {
    res.set('Cache-Control', 'no-cache').json(openApiDocument());
  });
  r.get('/docs', (req, res) => {
    // The page's relative URLs are resolved against /docs: from /docs/ they would miss.
    if (req.path.endsWith('/')) return res.redirect(301, '../docs');
    res.set(PAGE_HEADERS).type('html').send(PAGE);
  });
  r.get('/docs/assets/:asset', (req, res, next) => {
    const asset = String(req.params.asset);
    res.set(PAGE_HEADERS);
    if (asset === 'init.js') return res.type('js').send(INIT_SCRIPT);
    const file = Object.hasOwn(ASSETS, asset) ? ASSETS[asset] : undefined;
    if (!file) return next(notFound());
    res.sendFile(file, { root: swaggerUiDir, maxAge: '1d' }, (err) => err && next(err));
  });
  return r;
}
