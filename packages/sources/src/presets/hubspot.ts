import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const hubspot: SourcePreset = {
  type: 'hubspot',
  authenticate() {
    throw new Error('hubspot: not written yet');
  },
  map() {
    throw new Error('hubspot: not written yet');
  },
};
