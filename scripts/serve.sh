#!/usr/bin/env bash
# Builds everything (first run: installs packages and the model) and serves
# on the default config.toml. Extra arguments go to `voicegate serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
exec target/release/voicegate serve --config "${VOICEGATE_CONFIG:-config.toml}" "$@"
