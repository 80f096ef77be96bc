import type { SourcePreset, SourceType } from './preset.js';
import { freshdesk } from './presets/freshdesk.js';
import { github } from './presets/github.js';
import { helpscout } from './presets/helpscout.js';
import { hubspot } from './presets/hubspot.js';
import { intercom } from './presets/intercom.js';
import { jira } from './presets/jira.js';
import { linear } from './presets/linear.js';
import { token } from './presets/token.js';
import { zendesk } from './presets/zendesk.js';

/** Every vendor preset by its `type` in the sources file. Exhaustive: a new type needs its preset. */
export const PRESETS: Record<SourceType, SourcePreset> = {
  zendesk,
  freshdesk,
  helpscout,
  intercom,
  hubspot,
  linear,
  jira,
  github,
  token,
};
