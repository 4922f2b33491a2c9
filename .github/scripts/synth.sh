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

# The Dockerfile takes the layer's sources from its build context (layers/imagemagick/src).
# local.sh fetches them with apt from the Debian archive the system's apt sources name;
# GitHub's runners are Ubuntu, so it runs in a Debian container, whose own apt configuration
# names the archive (no mirror host is written into the repository). The sha256 pins in
# versions.env decide either way.
cache=${S3IC_CACHE:-$HOME/.cache/s3-image-compressor}
mkdir -p "$cache"
docker run --rm \
	-v "$root:/repo" -v "$cache:/cache" \
	-e S3IC_CACHE=/cache -e HOST_IDS="$(id -u):$(id -g)" \
	"${DEBIAN_IMAGE:-debian:bookworm}" bash -euo pipefail -c '
		/repo/layers/imagemagick/local.sh fetch /repo/layers/imagemagick/src
		# The container runs as root; hand the files back to the runner user.
		chown -R "$HOST_IDS" /repo/layers/imagemagick/src /cache'

# Bundling: the CLI sets aws:cdk:bundling-stacks to the selected stacks, so Docker builds
# the layer and the function for the environment's architecture (cdk.json).
npx --no-install cdk synth -c env="$env" --quiet
