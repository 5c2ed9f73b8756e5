/** `secret://<uuid>:<version|latest>` (the Secrets convention). */
export interface SecretRef {
  secretId: string;
  version: number | 'latest';
}

const REF = /^secret:\/\/([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}):(latest|[1-9][0-9]{0,8})$/i;

export function parseSecretRef(text: string): SecretRef | null {
  const m = REF.exec(text);
  if (!m) return null;
  return { secretId: m[1]!.toLowerCase(), version: m[2]!.toLowerCase() === 'latest' ? 'latest' : Number(m[2]) };
}

export const formatSecretRef = (secretId: string, version: number | 'latest' = 'latest') => `secret://${secretId}:${version}`;
