import Mustache, { type TemplateSpans } from 'mustache';

/**
 * Mustache's own defaults, passed on every call rather than read from the library's global `Mustache.tags`,
 * which any other importer could change.
 */
const TAGS: [string, string] = ['{{', '}}'];

/** Token types that read a variable: `{{x}}`, `{{{x}}}` / `{{&x}}` (`{` is parsed as `&`), sections `#` and `^`. */
const READS = new Set(['name', '&', '{', '#', '^']);

type Json = unknown;

const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v) && [Object.prototype, null].includes(Object.getPrototypeOf(v));

function collectStrings(value: Json, out: string[]): void {
  if (typeof value === 'string') out.push(value);
  else if (Array.isArray(value)) for (const v of value) collectStrings(v, out);
  else if (isPlainObject(value)) for (const v of Object.values(value)) collectStrings(v, out);
}

function collectNames(tokens: TemplateSpans, out: Set<string>): void {
  for (const token of tokens) {
    const [type, value] = token;
    // `{{.}}` is the current item of a section, not a variable anyone could supply.
    if (READS.has(type) && value !== '.') out.add(value);
    if ((type === '#' || type === '^') && Array.isArray(token[4])) collectNames(token[4], out);
  }
}

/**
 * The variable names used by every string field of `payload` (through nested objects and arrays), sorted and
 * unique. Section names count: `{{#company}}…{{/company}}` needs `company` to decide what to show. A malformed
 * template (an unclosed tag or section) throws Mustache's error.
 */
export function templateVariables(payload: Record<string, unknown>): string[] {
  // A writer per call: the library's default writer caches every template it has seen, for the life of the process.
  const writer = new Mustache.Writer();
  const strings: string[] = [];
  collectStrings(payload, strings);
  const names = new Set<string>();
  for (const s of strings) collectNames(writer.parse(s, TAGS) as TemplateSpans, names);
  return [...names].sort();
}

/**
 * Looks every name up in the flat `variables` as it is spelt, own properties only: `{{contact.name}}` is the
 * variable `contact.name` (Mustache would otherwise walk `variables.contact.name` and find nothing), and
 * `{{constructor}}` is not `Object.prototype.constructor`. Inside a section `{{.}}` is still the section's value.
 */
class VariablesContext extends Mustache.Context {
  constructor(
    view: unknown,
    private readonly variables: Record<string, string>,
    parent?: Mustache.Context,
  ) {
    super(view, parent);
  }

  override push(view: unknown): Mustache.Context {
    return new VariablesContext(view, this.variables, this);
  }

  override lookup(name: string): unknown {
    if (name === '.') return this.view;
    return Object.hasOwn(this.variables, name) ? this.variables[name] : undefined;
  }
}

const verbatim = (value: unknown) => String(value);

function renderValue(value: Json, key: string | null, writer: Mustache.Writer, context: VariablesContext): Json {
  if (typeof value === 'string') {
    // Only an `html` field is HTML: a subject or a text body shows `Tom & Jerry`, not `Tom &amp; Jerry`.
    return writer.render(value, context, undefined, { tags: TAGS, escape: key === 'html' ? Mustache.escape : verbatim });
  }
  // An array's items have no key of their own; they are rendered as the field that holds them.
  if (Array.isArray(value)) return value.map((v) => renderValue(v, key, writer, context));
  // fromEntries defines own properties, so a `__proto__` key from JSON stays a key rather than a prototype.
  if (isPlainObject(value)) return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, renderValue(v, k, writer, context)]));
  return value;
}

/**
 * `payload` with every string field rendered with Mustache against `variables`; the input is left alone. HTML
 * escaping applies in fields named `html` (anywhere in the tree) and nowhere else; values that are not strings,
 * arrays or plain objects are kept as they are. No partials (`{{> x}}` renders nothing); a missing variable
 * renders as the empty string (see `missingVariables`).
 */
export function renderPayload(payload: Record<string, unknown>, variables: Record<string, string>): Record<string, unknown> {
  const writer = new Mustache.Writer();
  const context = new VariablesContext(variables, variables);
  return renderValue(payload, null, writer, context) as Record<string, unknown>;
}

/** The names `templateVariables` finds in `payload` that `variables` does not have. */
export function missingVariables(payload: Record<string, unknown>, variables: Record<string, string>): string[] {
  return templateVariables(payload).filter((name) => !Object.hasOwn(variables, name));
}
