import { fileURLToPath } from 'node:url';
import { OpenAPIBackend, type Operation } from 'openapi-backend';

/**
 * GHL's official OpenAPI documents (contracts/ghl-openapi, copied unchanged from
 * GoHighLevel/highlevel-api-docs) as a validator: every request the client sends and every
 * response the sandbox gives is checked here by openapi-backend (ajv), not by hand-written checks.
 */
const CONTACTS_DOCUMENT = fileURLToPath(
  new URL('../../../contracts/ghl-openapi/apps/contacts.json', import.meta.url),
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
  const api = new OpenAPIBackend({
    definition: CONTACTS_DOCUMENT,
    quick: false,
    validate: true,
    strict: false,
  });
  await api.init();

  const operationFor = (method: string, path: string): Operation => {
    const operation = api.matchOperation({ method, path, headers: {} });
    if (!operation) throw new Error(`GHL's OpenAPI document has no operation for ${method} ${path}`);
    return operation;
  };

  return {
    operationFor,
    checkRequest(request) {
      const headers: Record<string, string | string[]> = {};
      for (const [name, value] of Object.entries(request.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = value;
      }
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
      const operation = operationFor(method, path);
      const operationId = operation.operationId ?? `${method} ${path}`;
      const documented = Object.keys(operation.responses ?? {}).includes(String(status));
      if (!documented) return { operationId, documented, errors: [] };
      const result = api.validateResponse(body, operation, status);
      const errors = (result.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`);
      return { operationId, documented, errors };
    },
  };
}
