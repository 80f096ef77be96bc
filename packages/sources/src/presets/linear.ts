import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const linear: SourcePreset = {
  type: 'linear',
  authenticate() {
    throw new Error('linear: not written yet');
  },
  map() {
    throw new Error('linear: not written yet');
  },
};
