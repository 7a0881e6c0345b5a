#!/usr/bin/env bash
# Prepares a fresh Debian 12 machine for voicegate: system packages, a
# release build of the host and every plugin, and the default Whisper model.
# Idempotent: every step is skipped when its result is already there.
#
# Usage: scripts/setup.sh [--tests]
#   --tests   also what the tests need beyond serving: Debian's Chromium and
#             playwright-core (npm ci) for the browser test. scripts/test.sh
#             passes it; serving alone does not need a 500 MB browser.
#
# Environment:
#   VOICEGATE_SKIP_APT=1   do not install system packages (you have them)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

for_tests=0
for arg in "$@"; do
    case "$arg" in
        --tests) for_tests=1 ;;
        *) echo "usage: scripts/setup.sh [--tests]" >&2; exit 2 ;;
    esac
done

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
    if [[ $for_tests == 1 ]]; then
        # The browser test's headless browser (driven by playwright-core,
        # which downloads no browser of its own).
        [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    fi
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

# playwright-core for the browser test, pinned by package-lock.json. Node
# itself is not installed here: Debian 12 ships Node 18 and playwright-core
# 1.65 needs 20 or newer; without it the browser test fails and says so.
install_node_modules() {
    local want have major
    want=$(sed -n 's/.*"playwright-core": "\([0-9.]*\)".*/\1/p' package.json | head -n 1)
    if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
        log "Node.js 20+ and npm are missing: the browser test will fail until they are installed"
        return
    fi
    major=$(node -p 'process.versions.node.split(".")[0]')
    if (( major < 20 )); then
        log "Node $(node --version) is too old for playwright-core (needs 20+): the browser test will fail"
        return
    fi
    have=$(node -p 'try { require("./node_modules/playwright-core/package.json").version } catch { "" }')
    if [[ -n "$want" && "$have" == "$want" ]]; then
        return
    fi
    log "Installing playwright-core $want (npm ci)"
    npm ci --no-audit --no-fund --loglevel=error
}

if [[ $for_tests == 1 ]]; then
    install_node_modules
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "cargo is not installed; install Rust (https://rustup.rs) and run this again" >&2
    exit 1
fi

log "Building the host and every plugin (release)"
cargo build --release --workspace --locked

log "Fetching the default Whisper model"
VOICEGATE_IMPORTER=cli bash scripts/fetch-model.sh
