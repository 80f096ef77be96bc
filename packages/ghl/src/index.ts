export {
  createGhlClient,
  DEFAULT_API_VERSION,
  DEFAULT_BASE_URL,
  DEFAULT_TIMEOUT_MS,
  type CallOptions,
  type CompleteTaskInput,
  type GhlCallRecord,
  type GhlOperation,
  type FindContactByEmailInput,
  type GetTaskInput,
  type GhlClient,
  type GhlClientOptions,
  type GhlResponse,
  type ListTasksInput,
  type SearchTasksInput,
} from './client.js';
export { StaticTokenCredentials, type CredentialsProvider } from './credentials.js';
export {
  GHL_ERROR_CODES,
  GhlError,
  GhlErrorBody,
  MissingCredentialsError,
  errorCodeForStatus,
  isGhlError,
  isRetryableCode,
  type GhlErrorCode,
  type GhlErrorInit,
} from './errors.js';
export { parseRateLimit, parseRetryAfter, type RateLimitState } from './rate-limit.js';
export {
  Contact,
  DuplicateContactResponse,
  SearchedTask,
  Task,
  TaskListResponse,
  TaskResponse,
  TaskSearchResponse,
} from './schemas.js';
