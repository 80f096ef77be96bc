# closeloop's image: compiled JavaScript on Node 24 with production dependencies only (no tsx, jest,
# TypeScript or the GHL sandbox). docker-compose.yml picks the command per service.
#
#   build    the whole workspace with its dev dependencies, `pnpm build` (tsc -b tsconfig.build.json,
#            type-checked) to each package's dist/, then one `pnpm deploy --prod` folder per service
#   sandbox  the GHL sandbox alone, for `docker compose --profile dev` (target: sandbox)
#   app      receiver + worker (the last stage, so the default target)
#
# Each deploy folder lands at the path its package has in the repository (/app/apps/worker…), so the
# commands read the same in the image as in a checkout (e2e/test/container-drain.test.ts runs them).
FROM node:24-bookworm-slim AS build
ENV CI=true
RUN npm install -g pnpm@12.4.2
WORKDIR /app
# `pnpm fetch` reads only the lockfile (https://pnpm.io/cli/fetch), so the dependency layer stays
# cached until pnpm-lock.yaml changes, and no package's manifest has to be listed here.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile
RUN pnpm build
# A deploy folder holds the package's `files` (dist/**/*.js), its package.json, and a node_modules with
# its production dependencies only; the workspace packages it uses are copied in the same way.
RUN pnpm --filter @closeloop/receiver deploy --prod --offline /out/apps/receiver \
  && pnpm --filter @closeloop/worker deploy --prod --offline /out/apps/worker \
  && pnpm --filter @closeloop/ghl-sandbox deploy --prod --offline /out/packages/ghl-sandbox

FROM node:24-bookworm-slim AS sandbox
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/packages/ghl-sandbox packages/ghl-sandbox
USER node
CMD ["node", "--conditions=closeloop-dist", "packages/ghl-sandbox/dist/main.js"]

FROM node:24-bookworm-slim AS app
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /out/apps/receiver apps/receiver
COPY --from=build /out/apps/worker apps/worker
USER node
# The process itself, not `pnpm start:…`: pnpm does not pass SIGTERM on to its child, it exits, and
# as PID 1 its exit kills the rest of the container (e2e/test/container-drain.test.ts).
# docker-compose.yml adds `init: true`; with plain `docker run`, pass `--init` so an init reaps and
# forwards signals. `--conditions=closeloop-dist` makes each @closeloop/* package's `exports` resolve
# to its dist/*.js; without it they resolve to src/*.ts, which tsx and jest load in development.
CMD ["node", "--conditions=closeloop-dist", "apps/receiver/dist/main.js"]
