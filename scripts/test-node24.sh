#!/usr/bin/env bash
# The test suite on Node 24, the image's Node (Dockerfile), on a machine whose own Node is 20.
#
#   bash scripts/test-node24.sh                      # everything, like `pnpm test`
#   bash scripts/test-node24.sh apps/worker/test/x.test.ts …   # some files (jest arguments)
#   NODE24_VERSION=24.22.0 bash scripts/test-node24.sh …       # another 24.x release than the pinned one
#
# Node comes from the npm registry's `node` package (its bin/node is the real binary, fetched once into
# npm's npx cache). Its folder goes first on PATH, so jest, tsc (pretest) and every process the tests
# start as `node …` (e2e/test/support/pid-namespace.ts) or through process.execPath run on Node 24.
set -euo pipefail
cd "$(dirname "$0")/.."

# Pinned, as every dependency is: a new 24.x is taken on purpose, by changing this line.
node24="$(npx -y "node@${NODE24_VERSION:-24.21.0}" -p process.execPath)"
export PATH="$(dirname "$node24"):$PATH"
echo "test-node24: $(command -v node) $(node --version)" >&2

if [ "$#" -eq 0 ]; then
  exec pnpm test
fi
exec pnpm test -- "$@"
