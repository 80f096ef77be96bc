export * from './env.js';
export * from './queue-env.js';
export * from './config.js';
export * from './logger.js';
export * from './lifecycle.js';
export * from './metrics.js';
export * from './ops-server.js';
export * from './http-server.js';
