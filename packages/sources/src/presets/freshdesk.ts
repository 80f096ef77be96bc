import type { SourcePreset } from '../preset.js';
import { templatePreset } from '../template-body.js';

/**
 * Freshdesk (docs/senders/freshdesk.md). Automation rules call a webhook with a body you write
 * ("advanced" content), and sign nothing: the shared secret comes as Basic auth ("Requires
 * authentication") or a custom header, ideally with a path token. `{{ticket.status}}` renders the
 * status name ("Resolved"); raw ids are 4 Resolved, 5 Closed, 2 Open, 3 Pending, 6–7 waiting
 * (Freshdesk API, "Ticket properties"). There is no delivery id: the key is ticket + status + update time.
 */
export const freshdesk: SourcePreset = templatePreset('freshdesk', {
  closed: ['4', '5', 'resolved', 'closed'],
  reopened: ['2', '3', '6', '7', 'open', 'pending', 'waiting on customer', 'waiting on third party'],
});
