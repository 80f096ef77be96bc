import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadSourcesFile, parseSources } from '../src/index.js';

const dir = mkdtempSync(join(tmpdir(), 'closeloop-sources-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const ENV = {
  ZENDESK_WEBHOOK_SECRET: 'zendesk-secret-0123456789',
  FRESHDESK_SECRET: 'freshdesk-secret-0123456789',
  FRESHDESK_PATH_TOKEN: 'pathtoken-0123456789abcdefghij',
  HUBSPOT_CLIENT_SECRET: 'hubspot-secret-0123456789',
};

const GOOD_YAML = `
sources:
  - name: zendesk
    type: zendesk
    secretEnv: ZENDESK_WEBHOOK_SECRET
    locationId: ve9EPM428h8vShlRW1KT
    match: { ticketPattern: "\\\\[{ticket}\\\\]" }
  - name: desk
    type: freshdesk
    secretEnv: FRESHDESK_SECRET
    pathTokenEnv: FRESHDESK_PATH_TOKEN
    auth: { header: X-Desk-Token }
    states: { closed: [Resolved], reopened: [Open, Pending] }
  - name: hubspot
    type: hubspot
    secretEnv: HUBSPOT_CLIENT_SECRET
    publicUrl: https://hooks.example.com/webhooks/hubspot
`;

describe('SOURCES_FILE: a good file', () => {
  it('When a YAML file is valid and its env vars are set, then every source has its settings', () => {
    const result = loadSourcesFile(write('good.yaml', GOOD_YAML), ENV);
    expect(result).toEqual({
      ok: true,
      sources: [
        {
          name: 'zendesk',
          type: 'zendesk',
          secrets: ['zendesk-secret-0123456789'],
          locationId: 've9EPM428h8vShlRW1KT',
          publicUrl: undefined,
          states: { closed: undefined, reopened: undefined },
          auth: { header: 'X-Closeloop-Secret' },
          ticketPattern: '\\[{ticket}\\]',
          pathToken: undefined,
        },
        {
          name: 'desk',
          type: 'freshdesk',
          secrets: ['freshdesk-secret-0123456789'],
          locationId: undefined,
          publicUrl: undefined,
          states: { closed: ['Resolved'], reopened: ['Open', 'Pending'] },
          auth: { header: 'X-Desk-Token' },
          ticketPattern: undefined,
          pathToken: 'pathtoken-0123456789abcdefghij',
        },
        {
          name: 'hubspot',
          type: 'hubspot',
          secrets: ['hubspot-secret-0123456789'],
          locationId: undefined,
          publicUrl: 'https://hooks.example.com/webhooks/hubspot',
          states: { closed: undefined, reopened: undefined },
          auth: { header: 'X-Closeloop-Secret' },
          ticketPattern: undefined,
          pathToken: undefined,
        },
      ],
    });
  });

  it('When the same sources are written as JSON, then the same settings', () => {
    const yaml = loadSourcesFile(write('same.yaml', GOOD_YAML), ENV);
    const json = loadSourcesFile(
      write(
        'same.json',
        JSON.stringify({
          sources: [
            {
              name: 'zendesk',
              type: 'zendesk',
              secretEnv: 'ZENDESK_WEBHOOK_SECRET',
              locationId: 've9EPM428h8vShlRW1KT',
              match: { ticketPattern: '\\[{ticket}\\]' },
            },
            {
              name: 'desk',
              type: 'freshdesk',
              secretEnv: 'FRESHDESK_SECRET',
              pathTokenEnv: 'FRESHDESK_PATH_TOKEN',
              auth: { header: 'X-Desk-Token' },
              states: { closed: ['Resolved'], reopened: ['Open', 'Pending'] },
            },
            {
              name: 'hubspot',
              type: 'hubspot',
              secretEnv: 'HUBSPOT_CLIENT_SECRET',
              publicUrl: 'https://hooks.example.com/webhooks/hubspot',
            },
          ],
        }),
      ),
      ENV,
    );
    expect(json).toEqual(yaml);
  });

  it('When the file is a bare list, then it is read as the sources', () => {
    const result = loadSourcesFile(
      write('list.yaml', '- name: zendesk\n  type: zendesk\n  secretEnv: ZENDESK_WEBHOOK_SECRET\n'),
      ENV,
    );
    expect(result.ok && result.sources.map((source) => source.name)).toEqual(['zendesk']);
  });

  it('When a secret env var holds two space-separated secrets (a rotation), then both are kept', () => {
    const result = parseSources(
      { sources: [{ name: 'zendesk', type: 'zendesk', secretEnv: 'ROTATING' }] },
      {
        ROTATING: ' new-secret-0123456789  old-secret-0123456789 ',
      },
    );
    expect(result.ok && result.sources[0]?.secrets).toEqual([
      'new-secret-0123456789',
      'old-secret-0123456789',
    ]);
  });
});

describe('SOURCES_FILE: every problem at once', () => {
  it('When a file has many problems, then each is listed with the file, the source and the field', () => {
    const path = write(
      'bad.yaml',
      `
sources:
  - name: zendesk
    type: zendesk
    secretEnv: ZENDESK_WEBHOOK_SECRET
  - name: zendesk
    type: zendesk
    secretEnv: UNSET_SECRET
  - name: short
    type: token
    secretEnv: SHORT_SECRET
  - name: tokened
    type: freshdesk
    secretEnv: FRESHDESK_SECRET
    pathTokenEnv: BAD_PATH_TOKEN
  - name: unset-token
    type: freshdesk
    secretEnv: FRESHDESK_SECRET
    pathTokenEnv: UNSET_PATH_TOKEN
  - name: linear
    type: linear
    secretEnv: FRESHDESK_SECRET
    publicUrl: https://hooks.example.com/webhooks/linear
`,
    );
    const result = loadSourcesFile(path, {
      ...ENV,
      SHORT_SECRET: 'short',
      BAD_PATH_TOKEN: 'has spaces and is short',
    });
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const where = `${path}: source`;
    expect(result.problems).toEqual([
      `${where} "zendesk": the name is used twice`,
      `${where} "zendesk": UNSET_SECRET (secretEnv) is not set`,
      `${where} "short": SHORT_SECRET must hold secrets of at least 16 characters`,
      `${where} "tokened": BAD_PATH_TOKEN must be 24–256 URL-safe characters (letters, digits, "-", "_")`,
      `${where} "unset-token": UNSET_PATH_TOKEN (pathTokenEnv) is not set`,
      `${where} "linear": publicUrl is only used by the hubspot type`,
    ]);
  });

  it('When entries break the schema, then every broken field is named by its source', () => {
    const path = write(
      'schema.json',
      JSON.stringify({
        sources: [
          { name: 'events', type: 'token', secretEnv: 'FRESHDESK_SECRET' },
          { name: 'desk', type: 'kayako', secretEnv: 'FRESHDESK_SECRET' },
          {
            name: 'pattern',
            type: 'token',
            secretEnv: 'FRESHDESK_SECRET',
            match: { ticketPattern: '\\bTICKET\\b' },
          },
          {
            name: 'regex',
            type: 'token',
            secretEnv: 'FRESHDESK_SECRET',
            match: { ticketPattern: '({ticket}' },
          },
          { name: 'Upper Case', type: 'token', secretEnv: 'FRESHDESK_SECRET' },
          { name: 'extra', type: 'token', secretEnv: 'FRESHDESK_SECRET', secret: 'inline-secret-0123456789' },
          { name: 'envname', type: 'token', secretEnv: 'not a name' },
        ],
      }),
    );
    const result = loadSourcesFile(path, ENV);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const text = result.problems.join('\n');
    expect(result.problems.every((problem) => problem.startsWith(`${path}: `))).toBe(true);
    expect(text).toContain('source "events" name: "events" is the built-in Standard Webhooks source');
    expect(text).toMatch(/source "desk" type: .*zendesk/);
    expect(text).toContain('source "pattern" match.ticketPattern: must contain {ticket}');
    expect(text).toContain('source "regex" match.ticketPattern: must be a valid regular expression');
    expect(text).toMatch(/source "Upper Case" name: must be 1–32 lower-case letters/);
    expect(text).toMatch(/source "extra".*secret/);
    expect(text).toContain('source "envname" secretEnv: must be an environment variable name');
    expect(result.problems.length).toBeGreaterThanOrEqual(7);
  });

  it('When the file is not valid YAML or JSON, then one problem naming the file', () => {
    const yaml = write('broken.yaml', 'sources: [\n');
    const json = write('broken.json', '{"sources": ');
    const yamlResult = loadSourcesFile(yaml, ENV);
    const jsonResult = loadSourcesFile(json, ENV);
    expect(yamlResult.ok === false && yamlResult.problems[0]).toContain(`${yaml} is not valid YAML`);
    expect(jsonResult.ok === false && jsonResult.problems[0]).toContain(`${json} is not valid JSON`);
  });

  it('When the file does not exist, then a problem says it cannot be read', () => {
    const missing = join(dir, 'missing.yaml');
    expect(loadSourcesFile(missing, ENV)).toEqual({
      ok: false,
      problems: [`SOURCES_FILE: cannot read ${missing} (ENOENT)`],
    });
  });

  it('When a problem is reported, then no secret value appears in it', () => {
    const result = parseSources(
      { sources: [{ name: 'short', type: 'token', secretEnv: 'SHORT' }] },
      { SHORT: 'tiny-secret' },
    );
    expect(result.ok === false && result.problems.join('\n')).not.toContain('tiny-secret');
  });
});
