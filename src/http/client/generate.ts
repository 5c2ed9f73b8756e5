/**
 * Writes src/http/client/schema.d.ts, the TypeScript types of the OpenAPI document (`npm run openapi:types`), with
 * openapi-typescript and formatted by prettier, so that the file is the same wherever it is generated and a test can
 * compare the committed one with a fresh one. Development only: both are devDependencies.
 */
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import openapiTS, { COMMENT_HEADER, type OpenAPI3, astToString } from 'openapi-typescript';
import { format, resolveConfig } from 'prettier';
import { openApiDocument } from '../openapi/index.js';

export const SCHEMA_FILE = fileURLToPath(new URL('./schema.d.ts', import.meta.url));

export async function clientTypes(): Promise<string> {
  // A copy: openapi-typescript annotates the document it is given.
  // defaultNonNullable off: a body field with a default is one a client may leave out, not one it must send.
  const ast = await openapiTS(structuredClone(openApiDocument()) as unknown as OpenAPI3, { defaultNonNullable: false });
  const source = `${COMMENT_HEADER}// Generated from src/http/openapi by \`npm run openapi:types\`: do not edit by hand.\n\n${astToString(ast)}`;
  return format(source, { ...(await resolveConfig(SCHEMA_FILE)), filepath: SCHEMA_FILE });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  writeFileSync(SCHEMA_FILE, await clientTypes());
  process.stdout.write(`wrote ${SCHEMA_FILE}\n`);
}
