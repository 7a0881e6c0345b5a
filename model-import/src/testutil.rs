//! Test helpers: a CTranslate2 v6 writer and a synthetic tiny Whisper model.

use std::path::{Path, PathBuf};

use half::{bf16, f16};

/// Tensor contents for [`Ct2Writer::var`].
pub(crate) enum Data {
    F32(Vec<f32>),
    F16(Vec<f32>),
    #[allow(dead_code)]
    BF16(Vec<f32>),
    I8(Vec<i8>),
    I16(Vec<i16>),
}

/// Writes the CTranslate2 binary v6 layout (the same as `ModelSpec._serialize`).
pub(crate) struct Ct2Writer {
    version: u32,
    spec: String,
    revision: u32,
    vars: Vec<(String, Vec<u8>)>,
    aliases: Vec<(String, String)>,
}

fn put_string(out: &mut Vec<u8>, s: &str) {
    let len = u16::try_from(s.len() + 1).expect("short string");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(s.as_bytes());
    out.push(0);
}

impl Ct2Writer {
    pub(crate) fn new(spec: &str, revision: u32) -> Self {
        Ct2Writer {
            version: 6,
            spec: spec.to_owned(),
            revision,
            vars: Vec::new(),
            aliases: Vec::new(),
        }
    }

    pub(crate) fn var(&mut self, name: &str, shape: &[usize], data: Data) {
        let (id, bytes): (u8, Vec<u8>) = match data {
            Data::F32(v) => (0, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::I8(v) => (1, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::I16(v) => (2, v.iter().flat_map(|x| x.to_le_bytes()).collect()),
            Data::F16(v) => (
                4,
                v.iter()
                    .flat_map(|&x| f16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
            Data::BF16(v) => (
                5,
                v.iter()
                    .flat_map(|&x| bf16::from_f32(x).to_le_bytes())
                    .collect(),
            ),
        };
        self.raw_var(name, shape, id, &bytes);
    }

    /// A variable with an arbitrary dtype id and payload (for malformed files).
    pub(crate) fn raw_var(&mut self, name: &str, shape: &[usize], dtype: u8, data: &[u8]) {
        let mut rec = Vec::new();
        put_string(&mut rec, name);
        rec.push(u8::try_from(shape.len()).expect("rank"));
        for &d in shape {
            rec.extend_from_slice(&u32::try_from(d).expect("dim").to_le_bytes());
        }
        rec.push(dtype);
        rec.extend_from_slice(&u32::try_from(data.len()).expect("len").to_le_bytes());
        rec.extend_from_slice(data);
        self.vars.retain(|(n, _)| n != name);
        self.vars.push((name.to_owned(), rec));
    }

    pub(crate) fn remove(&mut self, name: &str) {
        self.vars.retain(|(n, _)| n != name);
        self.aliases.retain(|(n, _)| n != name);
    }

    pub(crate) fn alias(&mut self, alias: &str, target: &str) {
        self.aliases.push((alias.to_owned(), target.to_owned()));
    }

    pub(crate) fn finish(mut self) -> Vec<u8> {
        // CTranslate2 writes the variables sorted by name.
        self.vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::new();
        out.extend_from_slice(&self.version.to_le_bytes());
        put_string(&mut out, &self.spec);
        out.extend_from_slice(&self.revision.to_le_bytes());
        out.extend_from_slice(&u32::try_from(self.vars.len()).expect("n").to_le_bytes());
        for (_, rec) in &self.vars {
            out.extend_from_slice(rec);
        }
        out.extend_from_slice(&u32::try_from(self.aliases.len()).expect("n").to_le_bytes());
        for (a, t) in &self.aliases {
            put_string(&mut out, a);
            put_string(&mut out, t);
        }
        out
    }
}

/// Shape parameters of a synthetic Whisper model.
#[derive(Clone, Copy)]
pub(crate) struct Tiny {
    pub d: usize,
    pub heads: usize,
    pub n_mels: usize,
    pub audio_ctx: usize,
    pub text_ctx: usize,
    pub n_vocab: usize,
    pub enc_layers: usize,
    pub dec_layers: usize,
    /// Store linear/conv/embedding weights as int8 with `_scale`.
    pub int8: bool,
}

impl Default for Tiny {
    fn default() -> Self {
        Tiny {
            d: 8,
            heads: 2,
            n_mels: 4,
            audio_ctx: 6,
            text_ctx: 5,
            n_vocab: 10,
            enc_layers: 2,
            dec_layers: 1,
            int8: false,
        }
    }
}

/// Deterministic test values, exactly representable in f16 and distinct per tensor.
pub(crate) fn values(seed: usize, n: usize) -> Vec<f32> {
    (0..n)
        .map(|i| {
            let k = (i * 7 + seed * 13) % 61;
            (k as f32 - 30.0) / 32.0
        })
        .collect()
}

/// Deterministic int8 values (never all zero in a row of length > 1).
pub(crate) fn qvalues(seed: usize, n: usize) -> Vec<i8> {
    (0..n)
        .map(|i| (((i * 5 + seed * 3) % 255) as i16 - 127) as i8)
        .collect()
}

impl Tiny {
    /// Builds the CTranslate2 writer for this model (callers may tamper with it).
    pub(crate) fn writer(&self) -> Ct2Writer {
        let d = self.d;
        let mut w = Ct2Writer::new("WhisperSpec", 3);
        let mut seed = 0usize;
        let mut weight = |w: &mut Ct2Writer, name: &str, shape: &[usize]| {
            seed += 1;
            let n: usize = shape.iter().product();
            if self.int8 {
                w.var(name, shape, Data::I8(qvalues(seed, n)));
                let scales = (0..shape[0]).map(|r| 127.0 / (0.5 + r as f32)).collect();
                w.var(&format!("{name}_scale"), &[shape[0]], Data::F32(scales));
            } else {
                w.var(name, shape, Data::F16(values(seed, n)));
            }
        };
        let mut vseed = 1000usize;
        let mut vector = |w: &mut Ct2Writer, name: &str, shape: &[usize]| {
            vseed += 1;
            let n: usize = shape.iter().product();
            w.var(name, shape, Data::F16(values(vseed, n)));
        };
        let fused_bias = |w: &mut Ct2Writer, name: &str, parts: usize, zero_part: usize| {
            let mut v = values(name.len(), parts * d);
            v[zero_part * d..(zero_part + 1) * d].fill(0.0);
            w.var(name, &[parts * d], Data::F16(v));
        };

        w.var("encoder/num_heads", &[], Data::I16(vec![self.heads as i16]));
        w.var("decoder/num_heads", &[], Data::I16(vec![self.heads as i16]));
        w.var("decoder/activation", &[], Data::I8(vec![3]));
        w.var("decoder/alibi", &[], Data::I8(vec![0]));
        w.var("decoder/alignment_heads", &[], Data::I16(vec![1]));
        w.var("decoder/alignment_layer", &[], Data::I16(vec![-1]));
        w.var("decoder/pre_norm", &[], Data::I8(vec![1]));
        w.var("decoder/scale_embeddings", &[], Data::I8(vec![0]));
        w.var("decoder/start_from_zero_embedding", &[], Data::I8(vec![0]));

        weight(&mut w, "encoder/conv1/weight", &[d, self.n_mels, 3]);
        vector(&mut w, "encoder/conv1/bias", &[d]);
        weight(&mut w, "encoder/conv2/weight", &[d, d, 3]);
        vector(&mut w, "encoder/conv2/bias", &[d]);
        vector(
            &mut w,
            "encoder/position_encodings/encodings",
            &[self.audio_ctx, d],
        );
        let ln = |w: &mut Ct2Writer, v: &mut dyn FnMut(&mut Ct2Writer, &str, &[usize]), p: &str| {
            v(w, &format!("{p}/gamma"), &[d]);
            v(w, &format!("{p}/beta"), &[d]);
        };
        for i in 0..self.enc_layers {
            let p = format!("encoder/layer_{i}");
            ln(
                &mut w,
                &mut vector,
                &format!("{p}/self_attention/layer_norm"),
            );
            weight(
                &mut w,
                &format!("{p}/self_attention/linear_0/weight"),
                &[3 * d, d],
            );
            fused_bias(&mut w, &format!("{p}/self_attention/linear_0/bias"), 3, 1);
            weight(
                &mut w,
                &format!("{p}/self_attention/linear_1/weight"),
                &[d, d],
            );
            vector(&mut w, &format!("{p}/self_attention/linear_1/bias"), &[d]);
            ln(&mut w, &mut vector, &format!("{p}/ffn/layer_norm"));
            weight(&mut w, &format!("{p}/ffn/linear_0/weight"), &[4 * d, d]);
            vector(&mut w, &format!("{p}/ffn/linear_0/bias"), &[4 * d]);
            weight(&mut w, &format!("{p}/ffn/linear_1/weight"), &[d, 4 * d]);
            vector(&mut w, &format!("{p}/ffn/linear_1/bias"), &[d]);
        }
        ln(&mut w, &mut vector, "encoder/layer_norm");

        weight(&mut w, "decoder/embeddings/weight", &[self.n_vocab, d]);
        vector(
            &mut w,
            "decoder/position_encodings/encodings",
            &[self.text_ctx, d],
        );
        for i in 0..self.dec_layers {
            let p = format!("decoder/layer_{i}");
            ln(
                &mut w,
                &mut vector,
                &format!("{p}/self_attention/layer_norm"),
            );
            weight(
                &mut w,
                &format!("{p}/self_attention/linear_0/weight"),
                &[3 * d, d],
            );
            fused_bias(&mut w, &format!("{p}/self_attention/linear_0/bias"), 3, 1);
            weight(
                &mut w,
                &format!("{p}/self_attention/linear_1/weight"),
                &[d, d],
            );
            vector(&mut w, &format!("{p}/self_attention/linear_1/bias"), &[d]);
            ln(&mut w, &mut vector, &format!("{p}/attention/layer_norm"));
            weight(&mut w, &format!("{p}/attention/linear_0/weight"), &[d, d]);
            vector(&mut w, &format!("{p}/attention/linear_0/bias"), &[d]);
            weight(
                &mut w,
                &format!("{p}/attention/linear_1/weight"),
                &[2 * d, d],
            );
            fused_bias(&mut w, &format!("{p}/attention/linear_1/bias"), 2, 0);
            weight(&mut w, &format!("{p}/attention/linear_2/weight"), &[d, d]);
            vector(&mut w, &format!("{p}/attention/linear_2/bias"), &[d]);
            ln(&mut w, &mut vector, &format!("{p}/ffn/layer_norm"));
            weight(&mut w, &format!("{p}/ffn/linear_0/weight"), &[4 * d, d]);
            vector(&mut w, &format!("{p}/ffn/linear_0/bias"), &[4 * d]);
            weight(&mut w, &format!("{p}/ffn/linear_1/weight"), &[d, 4 * d]);
            vector(&mut w, &format!("{p}/ffn/linear_1/bias"), &[d]);
        }
        ln(&mut w, &mut vector, "decoder/layer_norm");
        w.alias("decoder/projection/weight", "decoder/embeddings/weight");
        w
    }

    /// The vocabulary lines: 4 byte-level tokens, `<|endoftext|>`, then specials.
    pub(crate) fn vocabulary(&self) -> Vec<String> {
        let mut v: Vec<String> = ["!", "Ġthe", "Ċ", "Ã©"].map(String::from).to_vec();
        v.push("<|endoftext|>".into());
        while v.len() < self.n_vocab {
            v.push(format!("<|special_{}|>", v.len()));
        }
        v
    }

    /// Writes `model.bin` (from `writer`) and `vocabulary.txt` into a fresh directory.
    pub(crate) fn write_dir(&self, dir: &Path, writer: Ct2Writer) {
        std::fs::create_dir_all(dir).expect("mkdir");
        std::fs::write(dir.join("model.bin"), writer.finish()).expect("write model");
        let mut text = self.vocabulary().join("\n");
        text.push('\n');
        std::fs::write(dir.join("vocabulary.txt"), text).expect("write vocab");
    }
}

/// A fresh, empty scratch directory under the system temp dir.
pub(crate) fn scratch_dir(tag: &str) -> PathBuf {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let dir = std::env::temp_dir().join(format!(
        "voicegate-model-import-{}-{tag}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir scratch");
    dir
}
