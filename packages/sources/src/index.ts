export * from './crypto.js';
export * from './preset.js';
export * from './registry.js';
export * from './shared-secret.js';
export * from './source-error.js';
export * from './sources-file.js';
export * from './template-body.js';
