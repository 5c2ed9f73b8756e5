# The crm-outreach app. `docker compose up` runs it with EventStoreDB and PostgreSQL (docker-compose.yml).
# Compiles the TypeScript once (scripts/build.mjs: dist/, and the PGlite template a first start unpacks).
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts
COPY . .
RUN node scripts/build.mjs

FROM node:20-slim

WORKDIR /app
ENV NODE_ENV=production

# Manifests first, so a code change does not invalidate the install layer. Install scripts are skipped (the
# `prepare` build needs the sources, which come after); the compiled build comes from the stage below.
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts && npm cache clean --force

COPY . .
COPY --from=build /app/dist ./dist

# CRM_DATA_DIR (./data) holds the secrets master key file when CRM_SECRETS_MASTER_KEY is not set. Created here,
# owned by the unprivileged user, so that a fresh named volume mounted on it inherits that ownership.
RUN mkdir -p /app/data && chown node:node /app/data
USER node

ENV HOST=0.0.0.0 PORT=3000
EXPOSE 3000

# The slim image has no curl; Node's fetch is enough.
HEALTHCHECK --interval=10s --timeout=5s --start-period=20s --retries=6 \
  CMD node -e "fetch('http://127.0.0.1:3000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"

CMD ["node", "dist/main.js"]
