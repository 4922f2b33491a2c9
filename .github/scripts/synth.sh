#!/usr/bin/env bash
# synth.sh ENV: the cloud assembly of one environment in cdk.out, with Docker bundling, as a
# deploy needs it. synth.yml builds the assembly of diff.yml and deploy.yml here, so a pull
# request's diff shows the template and asset hashes its merge deploys. It runs in a job that
# cannot mint an OIDC token: the repository's code never runs next to a role.
set -euo pipefail

env=${1:?usage: synth.sh ENV}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$root"

npm ci --no-audit --no-fund

# The layer's Dockerfile downloads and sha256-checks its own sources in its first stage
# (fetch.sh), so nothing is fetched here.

# Bundling: the CLI sets aws:cdk:bundling-stacks to the selected stacks, so Docker builds
# the layer and the function for the environment's architecture (cdk.json).
npx --no-install cdk synth -c env="$env" --quiet
