import { fileURLToPath } from 'node:url';
import { OpenAPIBackend, type Operation } from 'openapi-backend';

/**
 * GHL's official OpenAPI documents (contracts/ghl-openapi, copied unchanged from
 * GoHighLevel/highlevel-api-docs: contacts.json and locations.json) as a validator: every request the client sends and every
 * response the sandbox gives is checked here by openapi-backend (ajv), not by hand-written checks.
 */
const CONTACTS_DOCUMENT = fileURLToPath(
  new URL('../../../contracts/ghl-openapi/apps/contacts.json', import.meta.url),
);
/** The Sub-Account document: closeloop uses its task search (`task-search`). */
const LOCATIONS_DOCUMENT = fileURLToPath(
  new URL('../../../contracts/ghl-openapi/apps/locations.json', import.meta.url),
);

export interface ContractRequest {
  method: string;
  /** Path without query string, e.g. /contacts/abc/tasks/def/completed */
  path: string;
  query?: Record<string, string | string[]>;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

export interface ContractResponseCheck {
  operationId: string;
  /** False when the document lists no response for this status (GHL sends 403/404/429 anyway). */
  documented: boolean;
  /** Schema violations; empty when the body matches (or when the status is not documented). */
  errors: string[];
}

export interface GhlContract {
  /** The operation a request maps to, or throws when the document has no such path/method. */
  operationFor(method: string, path: string): Operation;
  /** Schema violations of a request (path params, query, headers incl. Version, body); empty = valid. */
  checkRequest(request: ContractRequest): string[];
  checkResponse(method: string, path: string, status: number, body: unknown): ContractResponseCheck;
}

let loaded: Promise<GhlContract> | undefined;

export function loadGhlContract(): Promise<GhlContract> {
  loaded ??= build();
  return loaded;
}

async function build(): Promise<GhlContract> {
  // One backend per document: each keeps its own relative $refs; a request goes to the first document
  // that has its path and method.
  const apis = await Promise.all(
    [CONTACTS_DOCUMENT, LOCATIONS_DOCUMENT].map(async (definition) => {
      const backend = new OpenAPIBackend({ definition, quick: false, validate: true, strict: false });
      await backend.init();
      return backend;
    }),
  );

  const match = (method: string, path: string): { api: OpenAPIBackend; operation: Operation } => {
    for (const api of apis) {
      const operation = api.matchOperation({ method, path, headers: {} });
      if (operation) return { api, operation };
    }
    throw new Error(`GHL's OpenAPI documents have no operation for ${method} ${path}`);
  };
  const operationFor = (method: string, path: string): Operation => match(method, path).operation;

  return {
    operationFor,
    checkRequest(request) {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = value;
      }
      // A path no document has is still validated (by the contacts document), which reports it.
      const api =
        apis.find((backend) =>
          backend.matchOperation({ method: request.method, path: request.path, headers: {} }),
        ) ?? apis[0];
      if (!api) throw new Error('no GHL OpenAPI document loaded');
      const result = api.validateRequest({
        method: request.method,
        path: request.path,
        query: request.query ?? {},
        headers,
        body: request.body,
      });
      return (result.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
    },
    checkResponse(method, path, status, body) {
      const { api, operation } = match(method, path);
      const operationId = operation.operationId ?? `${method} ${path}`;
      const documented = Object.keys(operation.responses ?? {}).includes(String(status));
      if (!documented) return { operationId, documented, errors: [] };
      const result = api.validateResponse(body, operation, status);
      const errors = (result.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
      return { operationId, documented, errors };
    },
  };
}
