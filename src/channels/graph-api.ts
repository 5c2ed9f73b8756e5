/**
 * The Graph API version WhatsApp and Instagram sends use when an outbox does not pin one (`config.apiVersion`).
 * v26.0 (released 2026-07-29) is the newest in Meta's list of available versions
 * (developers.facebook.com/docs/graph-api/changelog/versions/); v21.0, the former default, is available only
 * until 2027-01-21. Move it on when Meta releases the next one, a test pins it.
 */
export const GRAPH_API_VERSION = 'v26.0';
