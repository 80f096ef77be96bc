# One image for every closeloop process; docker-compose.yml picks the command per service.
FROM node:24-bookworm-slim
ENV CI=true
RUN npm install -g pnpm@12.4.2
WORKDIR /app
# Manifests first so the dependency layer is cached until the lockfile changes.
COPY package.json pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
COPY apps/receiver/package.json apps/receiver/
COPY apps/worker/package.json apps/worker/
COPY packages/ghl/package.json packages/ghl/
COPY packages/ghl-sandbox/package.json packages/ghl-sandbox/
COPY packages/queue/package.json packages/queue/
COPY packages/test-support/package.json packages/test-support/
RUN pnpm install --frozen-lockfile
COPY . .
USER node
CMD ["pnpm", "start:receiver"]
