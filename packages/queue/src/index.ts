export * from './names.js';
export * from './task-event.js';
export * from './task-update-job.js';
export * from './dead-letter.js';
export * from './job-options.js';
export * from './connection.js';
export * from './producer.js';
export * from './dead-letter-replay.js';
