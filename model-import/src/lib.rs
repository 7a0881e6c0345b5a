//! Lossless, pure-Rust conversion of a CTranslate2 (faster-whisper) Whisper
//! model into a whisper.cpp ggml model file.
//!
//! The input directory holds `model.bin` (CTranslate2 binary version 6, spec
//! `WhisperSpec`) and `vocabulary.txt` or `vocabulary.json`. The output is the
//! classic `ggml-*.bin` layout that whisper.cpp (and so `whisper-rs`) loads:
//! 2-D/3-D weights stay float16 byte for byte, 1-D tensors become float32, the
//! fused attention projections are split by rows, and the mel filterbank is
//! computed from its formula. int8/int16 quantized weights are dequantized to
//! float16 with their `_scale`.
//!
//! ```no_run
//! use std::path::Path;
//! let report = voicegate_model_import::import_ct2(
//!     Path::new("models/.cache/ct2-tiny.en"),
//!     Path::new("models/ggml-tiny.en.bin"),
//!     &mut |p| eprintln!("{:?} {}/{}", p.stage, p.tensors_done, p.tensors_total),
//! )?;
//! println!("{} tensors, sha256 {}", report.tensor_count, report.sha256);
//! # Ok::<(), voicegate_model_import::ImportError>(())
//! ```

#![warn(missing_docs)]

pub mod ct2;
mod error;
pub mod ggml;
mod mapping;
pub mod mel;
#[cfg(test)]
mod testutil;
pub mod vocab;

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

pub use error::ImportError;
pub use ggml::Hparams;

/// What the importer is doing; see [`Progress`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Stage {
    /// Reading and validating `model.bin` and the vocabulary.
    Reading,
    /// Writing the header, then the tensors (`tensors_done` counts up).
    Writing,
    /// Flushing, syncing and renaming the output into place.
    Finishing,
    /// The output file is in place.
    Done,
}

/// A progress update passed to the callback of [`import_ct2`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct Progress {
    /// Current stage.
    pub stage: Stage,
    /// Tensors written so far.
    pub tensors_done: usize,
    /// Tensors to write in total (0 until the model has been read).
    pub tensors_total: usize,
}

/// The result of a successful import.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// Number of tensors written (167 for tiny).
    pub tensor_count: usize,
    /// Size of the output file in bytes.
    pub bytes_written: u64,
    /// The hyper-parameters written to the header.
    pub hparams: Hparams,
    /// Lower-case hex sha256 of the output file.
    pub sha256: String,
    /// The vocabulary file used (`vocabulary.txt` or `vocabulary.json`).
    pub vocabulary: PathBuf,
}

/// Converts the CTranslate2 Whisper model in `dir` into the ggml file `out`.
///
/// The file is written to `<out>.tmp`, synced, then renamed over `out`, so `out`
/// is either the complete new file or untouched. On error the temporary file is
/// removed. `progress` is called at each stage and after each tensor.
pub fn import_ct2(
    dir: &Path,
    out: &Path,
    progress: &mut dyn FnMut(Progress),
) -> Result<ImportReport, ImportError> {
    progress(Progress {
        stage: Stage::Reading,
        tensors_done: 0,
        tensors_total: 0,
    });
    let model_path = dir.join("model.bin");
    let model_file = model_path.display().to_string();
    let bytes = std::fs::read(&model_path).map_err(|e| ImportError::io(&model_path, "read", e))?;
    let model = ct2::Ct2Model::parse(&model_file, &bytes)?;
    let plan = mapping::plan(&model)?;

    let vocabulary = vocab::Vocabulary::load(dir)?;
    let n_vocab = usize::try_from(plan.hparams.n_vocab).unwrap_or(0);
    if vocabulary.tokens.len() != n_vocab {
        return Err(ImportError::Vocabulary {
            file: vocabulary.path.display().to_string(),
            location: "whole file".into(),
            msg: format!(
                "{} tokens, but {model_file} has {n_vocab} embedding rows",
                vocabulary.tokens.len()
            ),
        });
    }
    let tokens = vocabulary.ggml_tokens()?;
    let n_mels = usize::try_from(plan.hparams.n_mels).unwrap_or(0);
    let filters = mel::mel_filters(mel::SAMPLE_RATE, mel::N_FFT, n_mels);

    let Some(file_name) = out.file_name() else {
        return Err(ImportError::io(
            out,
            "write the output",
            std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                "the output path has no file name",
            ),
        ));
    };
    let mut tmp_name = file_name.to_os_string();
    tmp_name.push(".tmp");
    let tmp = out.with_file_name(tmp_name);

    let total = plan.tensors.len();
    let result = write_file(
        &tmp,
        &plan,
        &filters,
        n_mels,
        &tokens,
        &model_file,
        &mut |done| {
            progress(Progress {
                stage: Stage::Writing,
                tensors_done: done,
                tensors_total: total,
            });
        },
    )
    .and_then(|(bytes_written, sha256)| {
        progress(Progress {
            stage: Stage::Finishing,
            tensors_done: total,
            tensors_total: total,
        });
        std::fs::rename(&tmp, out)
            .map_err(|e| ImportError::io(&tmp, format!("rename to {}", out.display()), e))?;
        Ok((bytes_written, sha256))
    });
    let (bytes_written, sha256) = match result {
        Ok(r) => r,
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(e);
        }
    };
    sync_parent_dir(out);
    progress(Progress {
        stage: Stage::Done,
        tensors_done: total,
        tensors_total: total,
    });
    Ok(ImportReport {
        tensor_count: total,
        bytes_written,
        hparams: plan.hparams,
        sha256,
        vocabulary: vocabulary.path,
    })
}

/// Writes the whole ggml file to `path`; returns its size and sha256.
fn write_file(
    path: &Path,
    plan: &mapping::Plan<'_, '_>,
    filters: &[f32],
    n_mels: usize,
    tokens: &[Vec<u8>],
    model_file: &str,
    tensor_done: &mut dyn FnMut(usize),
) -> Result<(u64, String), ImportError> {
    let io_err = |e| ImportError::io(path, "write", e);
    let file = File::create(path).map_err(|e| ImportError::io(path, "create", e))?;
    let mut w = ggml::GgmlWriter::new(HashingWriter {
        inner: BufWriter::with_capacity(1 << 20, file),
        hasher: Sha256::new(),
        bytes: 0,
    });
    w.header(&plan.hparams).map_err(io_err)?;
    w.mel_filters(n_mels, mel::N_FFT / 2 + 1, filters)
        .map_err(io_err)?;
    w.vocabulary(tokens).map_err(io_err)?;
    tensor_done(0);
    for (i, t) in plan.tensors.iter().enumerate() {
        let data = mapping::encode(t, model_file)?;
        w.tensor_header(&t.name, t.ttype, &t.ne).map_err(io_err)?;
        w.data(&data).map_err(io_err)?;
        tensor_done(i + 1);
    }
    let HashingWriter {
        inner,
        hasher,
        bytes,
    } = w.into_inner();
    let file = inner.into_inner().map_err(|e| io_err(e.into_error()))?;
    file.sync_all()
        .map_err(|e| ImportError::io(path, "sync", e))?;
    Ok((bytes, format!("{:x}", hasher.finalize())))
}

/// Makes the rename durable (best effort; not all platforms can open a directory).
fn sync_parent_dir(out: &Path) {
    let parent = match out.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    if let Ok(d) = File::open(parent) {
        let _ = d.sync_all();
    }
}

/// Counts and hashes everything written through it.
struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    bytes: u64,
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ggml::{GgmlType, TensorInfo};
    use crate::testutil::{scratch_dir, values, Data, Tiny};
    use half::f16;

    fn convert(dir: &Path) -> Result<(ImportReport, Vec<u8>, ggml::GgmlSummary), ImportError> {
        let out = dir.join("out.bin");
        let mut updates = Vec::new();
        let report = import_ct2(dir, &out, &mut |p| updates.push(p))?;
        // Progress: Reading, Writing 0..=n, Finishing, Done.
        assert_eq!(updates.first().map(|p| p.stage), Some(Stage::Reading));
        assert_eq!(updates.last().map(|p| p.stage), Some(Stage::Done));
        let writing: Vec<usize> = updates
            .iter()
            .filter(|p| p.stage == Stage::Writing)
            .map(|p| p.tensors_done)
            .collect();
        assert_eq!(writing, (0..=report.tensor_count).collect::<Vec<_>>());
        assert!(!dir.join("out.bin.tmp").exists());
        let bytes = std::fs::read(&out).expect("read output");
        let summary = ggml::read_summary(&out).expect("summary");
        Ok((report, bytes, summary))
    }

    fn tensor<'s>(s: &'s ggml::GgmlSummary, name: &str) -> &'s TensorInfo {
        s.tensors
            .iter()
            .find(|t| t.name == name)
            .unwrap_or_else(|| panic!("no tensor {name}"))
    }

    fn f16s(bytes: &[u8], t: &TensorInfo) -> Vec<f32> {
        assert_eq!(t.ttype, GgmlType::F16);
        bytes[t.offset..t.offset + t.len]
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect()
    }

    fn f32s(bytes: &[u8], t: &TensorInfo) -> Vec<f32> {
        assert_eq!(t.ttype, GgmlType::F32);
        bytes[t.offset..t.offset + t.len]
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect()
    }

    /// The whisper.cpp tensor names for `enc`/`dec` layers, in file order.
    fn expected_names(enc: usize, dec: usize) -> Vec<String> {
        let mut v: Vec<String> = [
            "encoder.positional_embedding",
            "encoder.conv1.weight",
            "encoder.conv1.bias",
            "encoder.conv2.weight",
            "encoder.conv2.bias",
        ]
        .map(String::from)
        .to_vec();
        let enc_block = [
            "attn_ln.weight",
            "attn_ln.bias",
            "attn.query.weight",
            "attn.query.bias",
            "attn.key.weight",
            "attn.value.weight",
            "attn.value.bias",
            "attn.out.weight",
            "attn.out.bias",
            "mlp_ln.weight",
            "mlp_ln.bias",
            "mlp.0.weight",
            "mlp.0.bias",
            "mlp.2.weight",
            "mlp.2.bias",
        ];
        for i in 0..enc {
            v.extend(enc_block.iter().map(|s| format!("encoder.blocks.{i}.{s}")));
        }
        v.extend(["encoder.ln_post.weight", "encoder.ln_post.bias"].map(String::from));
        v.extend(
            [
                "decoder.positional_embedding",
                "decoder.token_embedding.weight",
            ]
            .map(String::from),
        );
        let dec_block = [
            "attn_ln.weight",
            "attn_ln.bias",
            "attn.query.weight",
            "attn.query.bias",
            "attn.key.weight",
            "attn.value.weight",
            "attn.value.bias",
            "attn.out.weight",
            "attn.out.bias",
            "cross_attn_ln.weight",
            "cross_attn_ln.bias",
            "cross_attn.query.weight",
            "cross_attn.query.bias",
            "cross_attn.key.weight",
            "cross_attn.value.weight",
            "cross_attn.value.bias",
            "cross_attn.out.weight",
            "cross_attn.out.bias",
            "mlp_ln.weight",
            "mlp_ln.bias",
            "mlp.0.weight",
            "mlp.0.bias",
            "mlp.2.weight",
            "mlp.2.bias",
        ];
        for i in 0..dec {
            v.extend(dec_block.iter().map(|s| format!("decoder.blocks.{i}.{s}")));
        }
        v.extend(["decoder.ln.weight", "decoder.ln.bias"].map(String::from));
        v
    }

    #[test]
    fn converts_synthetic_model() {
        let tiny = Tiny::default();
        let dir = scratch_dir("synthetic");
        tiny.write_dir(&dir, tiny.writer());
        let (report, bytes, s) = convert(&dir).expect("convert");

        let names: Vec<&str> = s.tensors.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, expected_names(2, 1));
        assert_eq!(report.tensor_count, 7 + 15 * 2 + 4 + 24);
        assert_eq!(report.bytes_written, bytes.len() as u64);
        assert_eq!(report.sha256, format!("{:x}", Sha256::digest(&bytes)));
        assert_eq!(report.vocabulary, dir.join("vocabulary.txt"));
        assert_eq!(
            s.hparams,
            Hparams {
                n_vocab: 10,
                n_audio_ctx: 6,
                n_audio_state: 8,
                n_audio_head: 2,
                n_audio_layer: 2,
                n_text_ctx: 5,
                n_text_state: 8,
                n_text_head: 2,
                n_text_layer: 1,
                n_mels: 4,
                ftype: 1,
            }
        );
        assert_eq!(report.hparams, s.hparams);
        assert_eq!((s.n_mel, s.n_fft_bins), (4, 201));
        assert_eq!(s.mel_filters, mel::mel_filters(16000.0, 400, 4));
        assert_eq!(
            s.tokens,
            vec![
                b"!".to_vec(),
                b" the".to_vec(),
                b"\n".to_vec(),
                "é".as_bytes().to_vec()
            ]
        );

        // Types and dims (innermost first).
        let pe = tensor(&s, "encoder.positional_embedding");
        assert_eq!((pe.ttype, pe.ne.as_slice()), (GgmlType::F32, &[8, 6][..]));
        let c1 = tensor(&s, "encoder.conv1.weight");
        assert_eq!(
            (c1.ttype, c1.ne.as_slice()),
            (GgmlType::F16, &[3, 4, 8][..])
        );
        let cb = tensor(&s, "encoder.conv1.bias");
        assert_eq!((cb.ttype, cb.ne.as_slice()), (GgmlType::F32, &[1, 8][..]));
        let up = tensor(&s, "decoder.blocks.0.mlp.0.weight");
        assert_eq!((up.ttype, up.ne.as_slice()), (GgmlType::F16, &[8, 32][..]));
        let emb = tensor(&s, "decoder.token_embedding.weight");
        assert_eq!(
            (emb.ttype, emb.ne.as_slice()),
            (GgmlType::F16, &[8, 10][..])
        );
        for t in &s.tensors {
            let want = if t.ne.len() >= 2 && t.name.ends_with(".weight") {
                GgmlType::F16
            } else {
                GgmlType::F32
            };
            assert_eq!(t.ttype, want, "{}", t.name);
        }

        // Row splits of the fused projections, against the source values.
        let model_bytes = std::fs::read(dir.join("model.bin")).expect("model");
        let m = ct2::Ct2Model::parse("model.bin", &model_bytes).expect("parse");
        let src = |name: &str| {
            let v = m.get(name).expect(name);
            (0..v.numel()).map(|i| v.get_f32(i)).collect::<Vec<f32>>()
        };
        let qkv = src("encoder/layer_1/self_attention/linear_0/weight");
        let d2 = 64;
        assert_eq!(
            f16s(&bytes, tensor(&s, "encoder.blocks.1.attn.query.weight")),
            qkv[..d2]
        );
        assert_eq!(
            f16s(&bytes, tensor(&s, "encoder.blocks.1.attn.key.weight")),
            qkv[d2..2 * d2]
        );
        assert_eq!(
            f16s(&bytes, tensor(&s, "encoder.blocks.1.attn.value.weight")),
            qkv[2 * d2..]
        );
        let qkv_b = src("encoder/layer_1/self_attention/linear_0/bias");
        assert_eq!(
            f32s(&bytes, tensor(&s, "encoder.blocks.1.attn.query.bias")),
            qkv_b[..8]
        );
        assert_eq!(
            f32s(&bytes, tensor(&s, "encoder.blocks.1.attn.value.bias")),
            qkv_b[16..]
        );
        let kv = src("decoder/layer_0/attention/linear_1/weight");
        assert_eq!(
            f16s(&bytes, tensor(&s, "decoder.blocks.0.cross_attn.key.weight")),
            kv[..d2]
        );
        assert_eq!(
            f16s(
                &bytes,
                tensor(&s, "decoder.blocks.0.cross_attn.value.weight")
            ),
            kv[d2..]
        );
        let kv_b = src("decoder/layer_0/attention/linear_1/bias");
        assert_eq!(
            f32s(&bytes, tensor(&s, "decoder.blocks.0.cross_attn.value.bias")),
            kv_b[8..]
        );
        assert_eq!(
            f32s(&bytes, tensor(&s, "decoder.ln.weight")),
            src("decoder/layer_norm/gamma")
        );
        assert_eq!(
            f32s(&bytes, tensor(&s, "encoder.conv2.bias")),
            src("encoder/conv2/bias")
        );
        // 2-D weights are copied byte for byte.
        let w = m.get("encoder/layer_0/ffn/linear_1/weight").expect("w");
        let t = tensor(&s, "encoder.blocks.0.mlp.2.weight");
        assert_eq!(&bytes[t.offset..t.offset + t.len], w.data);
        assert!(!s.tensors.iter().any(|t| t.name.ends_with("key.bias")));

        // Converting again gives the same file (deterministic).
        let (again, _, _) = convert(&dir).expect("convert again");
        assert_eq!(again.sha256, report.sha256);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn json_vocabulary_gives_identical_output() {
        let tiny = Tiny::default();
        let dir = scratch_dir("json");
        tiny.write_dir(&dir, tiny.writer());
        let (txt_report, _, _) = convert(&dir).expect("txt");
        std::fs::remove_file(dir.join("vocabulary.txt")).expect("rm");
        let json = serde_json::to_vec(&tiny.vocabulary()).expect("json");
        std::fs::write(dir.join("vocabulary.json"), json).expect("write");
        let (json_report, _, _) = convert(&dir).expect("json");
        assert_eq!(json_report.sha256, txt_report.sha256);
        assert_eq!(json_report.vocabulary, dir.join("vocabulary.json"));
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn dequantizes_int8_weights() {
        let tiny = Tiny {
            int8: true,
            ..Tiny::default()
        };
        let dir = scratch_dir("int8");
        tiny.write_dir(&dir, tiny.writer());
        let (report, bytes, s) = convert(&dir).expect("convert");
        assert_eq!(report.tensor_count, 65);
        let model_bytes = std::fs::read(dir.join("model.bin")).expect("model");
        let m = ct2::Ct2Model::parse("model.bin", &model_bytes).expect("parse");
        let w = m
            .get("encoder/layer_0/self_attention/linear_0/weight")
            .expect("w");
        let scale = m
            .get("encoder/layer_0/self_attention/linear_0/weight_scale")
            .expect("scale");
        assert_eq!(w.dtype, ct2::DType::I8);
        // value rows 16..24: float = int8 / scale[row], rounded to f16.
        let expect: Vec<f32> = (16 * 8..24 * 8)
            .map(|i| f16::from_f32(w.get_f32(i) / scale.get_f32(i / 8)).to_f32())
            .collect();
        assert_eq!(
            f16s(&bytes, tensor(&s, "encoder.blocks.0.attn.value.weight")),
            expect
        );
        // The tied embedding is dequantized once; the alias has no scale of its own.
        let e = tensor(&s, "decoder.token_embedding.weight");
        let emb = f16s(&bytes, e);
        let q = m.get("decoder/embeddings/weight").expect("emb");
        let sc = m.get("decoder/embeddings/weight_scale").expect("scale");
        assert_eq!(
            emb[8 * 3 + 5],
            f16::from_f32(q.get_f32(29) / sc.get_f32(3)).to_f32()
        );
        // Conv weights: one scale per output channel.
        let c = f16s(&bytes, tensor(&s, "encoder.conv1.weight"));
        let cq = m.get("encoder/conv1/weight").expect("conv");
        let cs = m.get("encoder/conv1/weight_scale").expect("scale");
        let row_len = 4 * 3;
        for i in [0, 13, 95] {
            assert_eq!(
                c[i],
                f16::from_f32(cq.get_f32(i) / cs.get_f32(i / row_len)).to_f32()
            );
        }
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn dequantizes_int16_with_a_single_scale() {
        let tiny = Tiny::default();
        let dir = scratch_dir("int16");
        let mut w = tiny.writer();
        let name = "decoder/layer_0/ffn/linear_1/weight";
        let q: Vec<i16> = (0..8 * 32).map(|i| i * 100 - 9000).collect();
        w.var(name, &[8, 32], Data::I16(q.clone()));
        w.var(&format!("{name}_scale"), &[], Data::F32(vec![1000.0]));
        tiny.write_dir(&dir, w);
        let (_, bytes, s) = convert(&dir).expect("convert");
        let got = f16s(&bytes, tensor(&s, "decoder.blocks.0.mlp.2.weight"));
        let want: Vec<f32> = q
            .iter()
            .map(|&x| f16::from_f32(f32::from(x) / 1000.0).to_f32())
            .collect();
        assert_eq!(got, want);
        std::fs::remove_dir_all(&dir).ok();
    }

    fn convert_err(tag: &str, tamper: impl FnOnce(&mut testutil::Ct2Writer)) -> String {
        let tiny = Tiny::default();
        let dir = scratch_dir(tag);
        let mut w = tiny.writer();
        tamper(&mut w);
        tiny.write_dir(&dir, w);
        let out = dir.join("out.bin");
        let err = import_ct2(&dir, &out, &mut |_| {}).expect_err("must fail");
        assert!(!out.exists());
        assert!(!dir.join("out.bin.tmp").exists());
        std::fs::remove_dir_all(&dir).ok();
        let prefix = format!("{}: ", dir.join("model.bin").display());
        let msg = err.to_string();
        msg.strip_prefix(&prefix).map(str::to_owned).unwrap_or(msg)
    }

    #[test]
    fn rejects_nonzero_key_bias() {
        let msg = convert_err("keybias", |w| {
            let mut v = values(1, 24);
            v[8..16].fill(0.0);
            v[10] = 0.5;
            w.var(
                "encoder/layer_0/self_attention/linear_0/bias",
                &[24],
                Data::F16(v),
            );
        });
        assert_eq!(
            msg,
            "tensor encoder/layer_0/self_attention/linear_0/bias: key bias is not zero \
             (element 10 = 0.5); whisper.cpp has no key bias"
        );
        let msg = convert_err("crossbias", |w| {
            w.var(
                "decoder/layer_0/attention/linear_1/bias",
                &[16],
                Data::F16(vec![0.25; 16]),
            );
        });
        assert!(
            msg.starts_with("tensor decoder/layer_0/attention/linear_1/bias: key bias is not zero"),
            "{msg}"
        );
    }

    #[test]
    fn rejects_bad_models_with_clear_errors() {
        let msg = convert_err("missing", |w| w.remove("encoder/layer_1/ffn/linear_0/bias"));
        assert_eq!(msg, "tensor encoder/layer_1/ffn/linear_0/bias is missing");

        let msg = convert_err("shape", |w| {
            w.var(
                "encoder/layer_0/ffn/linear_0/weight",
                &[16, 8],
                Data::F16(values(0, 128)),
            );
        });
        assert_eq!(
            msg,
            "tensor encoder/layer_0/ffn/linear_0/weight: has shape [16, 8], expected [32, 8]"
        );

        let msg = convert_err("extra", |w| {
            w.var(
                "decoder/layernorm_embedding/gamma",
                &[8],
                Data::F32(vec![1.0; 8]),
            )
        });
        assert_eq!(
            msg,
            "variable decoder/layernorm_embedding/gamma has no whisper.cpp counterpart"
        );

        let msg = convert_err("flag", |w| {
            w.var("decoder/some_new_flag", &[], Data::I8(vec![1]))
        });
        assert_eq!(
            msg,
            "unsupported architecture flag decoder/some_new_flag = 1"
        );

        let msg = convert_err("act", |w| {
            w.var("decoder/activation", &[], Data::I8(vec![1]))
        });
        assert!(
            msg.starts_with("tensor decoder/activation: activation 1 is not GELU"),
            "{msg}"
        );

        let msg = convert_err("prenorm", |w| {
            w.var("decoder/pre_norm", &[], Data::I8(vec![0]))
        });
        assert_eq!(
            msg,
            "tensor decoder/pre_norm: is 0, whisper.cpp only supports 1"
        );

        let msg = convert_err("heads", |w| {
            w.var("encoder/num_heads", &[], Data::I16(vec![3]))
        });
        assert_eq!(
            msg,
            "tensor encoder/num_heads: 3 heads do not divide the model width 8"
        );

        let msg = convert_err("untied", |w| {
            w.remove("decoder/projection/weight");
            w.var(
                "decoder/projection/weight",
                &[10, 8],
                Data::F16(values(99, 80)),
            );
        });
        assert!(
            msg.starts_with(
                "tensor decoder/projection/weight: differs from decoder/embeddings/weight"
            ),
            "{msg}"
        );

        let msg = convert_err("noscale", |w| {
            w.var("encoder/conv2/weight", &[8, 8, 3], Data::I8(vec![1; 192]));
        });
        assert_eq!(msg, "tensor encoder/conv2/weight: int8 weights need the scale variable encoder/conv2/weight_scale");

        let msg = convert_err("spec", |w| {
            *w = testutil::Ct2Writer::new("TransformerSpec", 1)
        });
        assert_eq!(
            msg,
            "model spec is \"TransformerSpec\", expected \"WhisperSpec\" (not a Whisper model)"
        );

        let msg = convert_err("gap", |w| {
            for n in [
                "self_attention/layer_norm/gamma",
                "self_attention/layer_norm/beta",
            ] {
                w.var(
                    &format!("encoder/layer_3/{n}"),
                    &[8],
                    Data::F32(vec![1.0; 8]),
                );
            }
        });
        assert_eq!(msg, "encoder layers are not numbered 0..3: found {0, 1, 3}");
    }

    #[test]
    fn tied_projection_may_be_a_copy() {
        let tiny = Tiny::default();
        let dir = scratch_dir("copy");
        tiny.write_dir(&dir, tiny.writer());
        let (aliased, _, _) = convert(&dir).expect("aliased");
        let model = std::fs::read(dir.join("model.bin")).expect("read");
        let m = ct2::Ct2Model::parse("model.bin", &model).expect("parse");
        let emb = m.get("decoder/embeddings/weight").expect("emb");
        let emb_vals: Vec<f32> = (0..emb.numel()).map(|i| emb.get_f32(i)).collect();
        let mut w = tiny.writer();
        w.remove("decoder/projection/weight");
        w.var("decoder/projection/weight", &[10, 8], Data::F16(emb_vals));
        tiny.write_dir(&dir, w);
        let (copied, _, _) = convert(&dir).expect("copied");
        assert_eq!(copied.sha256, aliased.sha256);
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn rejects_vocabulary_problems() {
        let tiny = Tiny::default();
        let dir = scratch_dir("vocab");
        tiny.write_dir(&dir, tiny.writer());
        std::fs::remove_file(dir.join("vocabulary.txt")).expect("rm");
        let err = import_ct2(&dir, &dir.join("o.bin"), &mut |_| {}).unwrap_err();
        assert!(matches!(err, ImportError::NoVocabulary { .. }), "{err}");

        std::fs::write(dir.join("vocabulary.txt"), "a\nb\n").expect("write");
        let err = import_ct2(&dir, &dir.join("o.bin"), &mut |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!(
                "{}: whole file: 2 tokens, but {} has 10 embedding rows",
                dir.join("vocabulary.txt").display(),
                dir.join("model.bin").display()
            )
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn missing_model_file_names_the_path() {
        let dir = scratch_dir("nomodel");
        let err = import_ct2(&dir, &dir.join("o.bin"), &mut |_| {}).unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("{}: cannot read", dir.join("model.bin").display())
        );
        std::fs::remove_dir_all(&dir).ok();
    }

    #[test]
    fn replaces_existing_output_atomically() {
        let tiny = Tiny::default();
        let dir = scratch_dir("replace");
        tiny.write_dir(&dir, tiny.writer());
        let out = dir.join("out.bin");
        std::fs::write(&out, b"old").expect("write");
        std::fs::write(dir.join("out.bin.tmp"), b"stale").expect("write");
        let report = import_ct2(&dir, &out, &mut |_| {}).expect("import");
        assert_eq!(
            std::fs::metadata(&out).expect("meta").len(),
            report.bytes_written
        );
        assert!(!dir.join("out.bin.tmp").exists());
        std::fs::remove_dir_all(&dir).ok();
    }
}
