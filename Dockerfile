# The crm-outreach app. `docker compose up` runs it with EventStoreDB and PostgreSQL (docker-compose.yml).
FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Manifests first, so a code change does not invalidate the install layer. `npm start` runs TypeScript through
# tsx, a runtime dependency: the dev dependencies (compiler, test runner) are not installed.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev && npm cache clean --force

COPY . .

# CRM_DATA_DIR (./data) holds the secrets master key file when CRM_SECRETS_MASTER_KEY is not set. Created here,
# owned by the unprivileged user, so that a fresh named volume mounted on it inherits that ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node

ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000

# The slim image has no curl; Node's fetch is enough.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD node -e "fetch('http://127.0.0.1:3000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

CMD ["node", "--import", "tsx", "src/main.ts"]
