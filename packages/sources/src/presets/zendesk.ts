import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const zendesk: SourcePreset = {
  type: 'zendesk',
  authenticate() {
    throw new Error('zendesk: not written yet');
  },
  map() {
    throw new Error('zendesk: not written yet');
  },
};
