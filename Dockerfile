# One image for every closeloop process; docker-compose.yml picks the command per service.
FROM node:24-bookworm-slim
ENV CI=true
RUN npm install -g pnpm@12.4.2
WORKDIR /app
# `pnpm fetch` reads only the lockfile (https://pnpm.io/cli/fetch), so the dependency layer stays
# cached until pnpm-lock.yaml changes, and no package's manifest has to be listed here.
COPY pnpm-lock.yaml pnpm-workspace.yaml .npmrc ./
RUN pnpm fetch
COPY . .
RUN pnpm install --offline --frozen-lockfile
USER node
# The process itself, not `pnpm start:…`: pnpm does not pass SIGTERM on to its child, it exits, and
# as PID 1 its exit kills the rest of the container (e2e/test/container-drain.test.ts). No build
# step: tsx compiles TypeScript on load; `--import tsx` keeps it in this one process (the `tsx`
# command would run the app as a child and relay signals to it). docker-compose.yml adds
# `init: true`; with plain `docker run`, pass `--init` so an init reaps and forwards signals.
CMD ["node", "--import", "tsx", "apps/receiver/src/main.ts"]
