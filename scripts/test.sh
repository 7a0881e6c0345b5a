#!/usr/bin/env bash
# Runs every check and test from a fresh clone: installs what is needed,
# builds the workspace, then formatting, lints, unit, integration and
# end-to-end tests (which start the real host with real plugins).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh --tests

echo "==> cargo fmt --check" >&2
cargo fmt --all -- --check

echo "==> cargo clippy" >&2
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> tests" >&2
if cargo nextest --version >/dev/null 2>&1; then
    cargo nextest run --workspace --release --locked --no-fail-fast "$@"
    # nextest does not run doctests.
    cargo test --workspace --release --locked --doc
else
    cargo test --workspace --release --locked --no-fail-fast "$@"
fi
