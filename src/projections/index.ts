import { accessTokensProjection } from './access-tokens.js';
import { brandVoiceCacheProjection } from './brand-voice-cache.js';
import { contentPiecesProjection } from './content-pieces.js';
import type { Projection } from './projection.js';
import { secretsProjection } from './secrets.js';

/** Every read model of the service. Each feature adds its projection here. */
export function allProjections(): Projection[] {
  return [accessTokensProjection, secretsProjection, contentPiecesProjection, brandVoiceCacheProjection];
}
