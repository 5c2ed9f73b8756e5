import { describe, expect, it } from 'vitest';
import { missingVariables, renderPayload, templateVariables } from '../../src/sequences/render.js';

const whatsapp = {
  template: 'order_update',
  language: { code: 'en' },
  components: [
    { type: 'header', parameters: [{ type: 'text', text: '{{company}}' }] },
    {
      type: 'body',
      parameters: [
        { type: 'text', text: '{{first_name}}' },
        { type: 'text', text: 'Order {{order_id}} ships {{#eta}}on {{eta}}{{/eta}}{{^eta}}soon{{/eta}}' },
      ],
    },
    { type: 'button', sub_type: 'url', index: 0, parameters: [{ type: 'text', text: '{{{tracking_path}}}' }] },
  ],
};

describe('templateVariables', () => {
  it('lists the names of every string field, nested objects and arrays included, sorted and unique', () => {
    expect(templateVariables(whatsapp)).toEqual(['company', 'eta', 'first_name', 'order_id', 'tracking_path']);
    expect(templateVariables({ subject: '{{b}} {{a}}', text: '{{a}} again {{&c}}' })).toEqual(['a', 'b', 'c']);
  });

  it('counts section and inverted-section names, and the names inside them', () => {
    expect(templateVariables({ text: '{{#vip}}Dear {{title}}{{/vip}}' })).toEqual(['title', 'vip']);
    expect(templateVariables({ text: '{{^phone}}no phone{{/phone}}' })).toEqual(['phone']);
  });

  it('does not count comments, partials, the current item or literal text', () => {
    expect(templateVariables({ text: '{{! note }}{{> footer}}{{#tags}}{{.}}{{/tags}} plain {braces}' })).toEqual(['tags']);
  });

  it('keys and non-string values are not templates', () => {
    expect(templateVariables({ '{{key}}': 'x', count: 3, on: true, none: null })).toEqual([]);
  });

  it('throws on a malformed template', () => {
    expect(() => templateVariables({ text: '{{#open}} never closed' })).toThrow(/Unclosed section/);
    expect(() => templateVariables({ text: 'Hi {{name' })).toThrow(/Unclosed tag/);
  });
});

describe('renderPayload', () => {
  const variables = { name: 'Tom & Jerry', company: '<Acme>', first_name: 'Ana', order_id: 'A-1', tracking_path: 'a?b=1&c=2' };

  it('renders a subject and a text body without HTML escaping', () => {
    const out = renderPayload({ subject: 'Hello {{name}}', text: 'From {{company}} to {{name}}' }, variables);
    expect(out).toEqual({ subject: 'Hello Tom & Jerry', text: 'From <Acme> to Tom & Jerry' });
  });

  it('escapes in an html field, wherever it is, and only there', () => {
    const out = renderPayload({ html: '<p>{{name}} at {{company}}</p>', text: '{{name}}', email: { html: '<b>{{name}}</b>' } }, variables);
    expect(out).toEqual({
      html: '<p>Tom &amp; Jerry at &lt;Acme&gt;</p>',
      text: 'Tom & Jerry',
      email: { html: '<b>Tom &amp; Jerry</b>' },
    });
  });

  it('escapes the items of an html array, which are rendered as the html field that holds them', () => {
    expect(renderPayload({ html: ['<b>{{name}}</b>'], text: ['{{name}}'] }, variables)).toEqual({
      html: ['<b>Tom &amp; Jerry</b>'],
      text: ['Tom & Jerry'],
    });
  });

  it('renders the current item of a section as its value', () => {
    expect(renderPayload({ text: '{{#name}}[{{.}}]{{/name}}' }, variables)).toEqual({ text: '[Tom & Jerry]' });
  });

  it('leaves triple mustaches unescaped even in html, as Mustache does', () => {
    expect(renderPayload({ html: '{{{company}}} {{&company}}' }, variables)).toEqual({ html: '<Acme> <Acme>' });
  });

  it('renders nested payloads: a WhatsApp template’s components', () => {
    const out = renderPayload(whatsapp, { ...variables, eta: 'Friday' });
    expect(out).toEqual({
      template: 'order_update',
      language: { code: 'en' },
      components: [
        { type: 'header', parameters: [{ type: 'text', text: '<Acme>' }] },
        {
          type: 'body',
          parameters: [
            { type: 'text', text: 'Ana' },
            { type: 'text', text: 'Order A-1 ships on Friday' },
          ],
        },
        { type: 'button', sub_type: 'url', index: 0, parameters: [{ type: 'text', text: 'a?b=1&c=2' }] },
      ],
    });
    expect(whatsapp.components[0]!.parameters[0]!.text).toBe('{{company}}'); // the input is left alone
  });

  it('shows the inverted section when the section variable is missing, and a missing name as empty', () => {
    const out = renderPayload({ text: 'Ships {{#eta}}on {{eta}}{{/eta}}{{^eta}}soon{{/eta}}. {{nobody}}!' }, {});
    expect(out).toEqual({ text: 'Ships soon. !' });
  });

  it('keeps non-string values as they are', () => {
    const at = new Date('2026-12-02T10:00:00.000Z');
    const payload = { count: 3, ratio: 0.5, on: false, none: null, at, list: [1, '{{name}}', null], nested: { n: 7 } };
    const out = renderPayload(payload, variables);
    expect(out).toEqual({ count: 3, ratio: 0.5, on: false, none: null, at, list: [1, 'Tom & Jerry', null], nested: { n: 7 } });
    expect(out.at).toBe(at);
  });

  it('looks names up in the variables as spelt: dotted names flat, nothing inherited from Object.prototype', () => {
    const out = renderPayload(
      { text: '{{contact.name}}|{{constructor}}|{{toString}}|{{#hasOwnProperty}}x{{/hasOwnProperty}}' },
      {
        'contact.name': 'Ana',
      },
    );
    expect(out).toEqual({ text: 'Ana|||' });
  });

  it('renders no partials', () => {
    expect(renderPayload({ text: 'a{{> footer}}b' }, { footer: 'NO' })).toEqual({ text: 'ab' });
  });

  it('keeps a __proto__ key from JSON as a key', () => {
    const out = renderPayload(JSON.parse('{"__proto__": {"text": "{{name}}"}}') as Record<string, unknown>, variables);
    expect(Object.getPrototypeOf(out)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(out, '__proto__')?.value).toEqual({ text: 'Tom & Jerry' });
  });
});

describe('missingVariables', () => {
  it('lists the names the payload uses that the variables lack, sections included', () => {
    expect(missingVariables(whatsapp, { company: 'Acme', first_name: 'Ana' })).toEqual(['eta', 'order_id', 'tracking_path']);
    expect(missingVariables({ text: '{{#vip}}VIP{{/vip}}' }, {})).toEqual(['vip']);
  });

  it('is empty when every name has a value, an empty string included', () => {
    expect(missingVariables({ subject: '{{a}}', text: '{{#b}}x{{/b}}' }, { a: '', b: 'y' })).toEqual([]);
  });

  it('does not take an inherited property for a variable', () => {
    expect(missingVariables({ text: '{{constructor}}' }, {})).toEqual(['constructor']);
  });
});
