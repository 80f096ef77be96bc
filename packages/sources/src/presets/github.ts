import type { SourcePreset } from '../preset.js';

// PENDING: being written (issue 7). Replace this whole file.
export const github: SourcePreset = {
  type: 'github',
  authenticate() {
    throw new Error('github: not written yet');
  },
  map() {
    throw new Error('github: not written yet');
  },
};
