import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const intercom: SourcePreset = {
  type: 'intercom',
  authenticate() {
    throw new Error('intercom: not written yet');
  },
  map() {
    throw new Error('intercom: not written yet');
  },
};
