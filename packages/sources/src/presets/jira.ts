import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const jira: SourcePreset = {
  type: 'jira',
  authenticate() {
    throw new Error('jira: not written yet');
  },
  map() {
    throw new Error('jira: not written yet');
  },
};
