import type { ContactEvent } from '../domain/contact.js';
import { defineProjection } from './projection.js';
import { recipientAlias } from './activity-aliases.js';

const KIND: Partial<Record<string, 'booking' | 'bounce'>> = { booking_created: 'booking', bounced: 'bounce', complained: 'bounce' };

/**
 * crm_contact_signals: what a person did that stops their enrollments, read off their contact streams. A message
 * from them is a reply whether or not it answers one of the sequence's sends (it may answer a manual send, or
 * come on another channel under the same name); a booking they made themselves, or a bounce of mail to them,
 * matched no send, so only the contact stream has it. The recipient is canonical, as an enrollment's `to` is.
 */
export const contactSignalsProjection = defineProjection<ContactEvent>()({
  name: 'contact_signals',
  tables: ['crm_contact_signals'],
  on: {
    ContactMessageReceived: (e, { tx, table }) =>
      tx.query(
        `INSERT INTO ${table('crm_contact_signals')} (event_id, company_id, channel, recipient, kind, at) VALUES ($1, $2, $3, $4, 'reply', $5)
         ON CONFLICT (event_id) DO NOTHING`,
        [e.id, e.data.companyId, e.data.channel, recipientAlias(e.data.channel, e.data.contact), e.data.at],
      ),
    ContactDeliveryUnmatched: async (e, { tx, table }) => {
      const kind = KIND[e.data.state];
      if (!kind) return;
      await tx.query(
        `INSERT INTO ${table('crm_contact_signals')} (event_id, company_id, channel, recipient, kind, at) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (event_id) DO NOTHING`,
        [e.id, e.data.companyId, e.data.channel, recipientAlias(e.data.channel, e.data.contact), kind, e.data.at],
      );
    },
  },
});
