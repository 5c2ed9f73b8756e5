import { get } from './api.js';

// The service's own lists (channels, activity statuses), read once from its API description rather than copied
// here: the console's filters and forms offer what the API accepts.
export const CHANNELS = [];
export const STATUSES = [];

let loaded = null;
export function loadEnums() {
  loaded ??= get('/openapi.json').then((doc) => {
    const activity = doc.components.schemas.ActivitySummary.properties;
    CHANNELS.push(...activity.channel.enum);
    STATUSES.push(...activity.status.enum);
  });
  return loaded;
}
