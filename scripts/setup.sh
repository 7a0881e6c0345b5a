#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for voicegate: system packages, a
# release build of the host and every plugin, and the default Whisper model.
# Idempotent: every step is skipped when its result is already there.
#
# Environment:
#   VOICEGATE_SKIP_APT=1   do not install system packages (you have them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

# Debian packages we need, keyed by a command or file that proves them.
install_packages() {
    local missing=()
    command -v cc >/dev/null 2>&1 || missing+=(build-essential)
    command -v cmake >/dev/null 2>&1 || missing+=(cmake)
    command -v clang >/dev/null 2>&1 || missing+=(clang)
    ls /usr/lib/llvm-*/lib/libclang.so* >/dev/null 2>&1 || missing+=(libclang-dev)
    command -v pkg-config >/dev/null 2>&1 || missing+=(pkg-config)
    command -v espeak-ng >/dev/null 2>&1 || missing+=(espeak-ng)
    [[ -f /usr/include/espeak-ng/speak_lib.h ]] || missing+=(libespeak-ng-dev)
    command -v sox >/dev/null 2>&1 || missing+=(sox)
    command -v python3 >/dev/null 2>&1 || missing+=(python3)
    python3 -m pip --version >/dev/null 2>&1 || missing+=(python3-pip)
    if [[ ${#missing[@]} -eq 0 ]]; then
        return
    fi
    if [[ "${VOICEGATE_SKIP_APT:-}" == 1 ]]; then
        log "Missing packages (VOICEGATE_SKIP_APT=1, not installing): ${missing[*]}"
        return
    fi
    local sudo=()
    [[ $(id -u) -eq 0 ]] || sudo=(sudo)
    log "Installing Debian packages: ${missing[*]}"
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_packages

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed; install Rust (https://rustup.rs) and run this again" >&2
    exit 1
fi

log "Building the host and every plugin (release)"
cargo build --release --workspace --locked

log "Fetching the default Whisper model"
VOICEGATE_IMPORTER=cli bash scripts/fetch-model.sh
