import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const helpscout: SourcePreset = {
  type: 'helpscout',
  authenticate() {
    throw new Error('helpscout: not written yet');
  },
  map() {
    throw new Error('helpscout: not written yet');
  },
};
