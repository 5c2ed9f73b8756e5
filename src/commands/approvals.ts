import { approvalDecider, approvalStream } from '../domain/approval.js';
import { commandHandlerFor } from './command-handler.js';

/** The approval a send waits for (requested by the send path, granted or rejected by a person). */
export const approval = commandHandlerFor(approvalDecider, approvalStream);
