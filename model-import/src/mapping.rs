//! CTranslate2 → whisper.cpp tensor mapping: names, fused-row splits, shape
//! and architecture checks, and the element conversion of each output tensor.
//!
//! Every variable of the source model must be accounted for: either mapped to a
//! whisper.cpp tensor, checked and dropped (zero key biases, tied output
//! projection, known architecture flags), or the import fails. That is what
//! makes the conversion lossless.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::ops::Range;

use half::f16;

use crate::ct2::{Ct2Model, DType, Variable};
use crate::error::ImportError;
use crate::ggml::{GgmlType, Hparams};

/// The value of `decoder/activation` for exact GELU (CTranslate2 `ActivationType::GELU`).
const GELU: i64 = 3;

/// One tensor of the output file.
pub(crate) struct OutTensor<'m, 'a> {
    /// whisper.cpp name.
    pub name: String,
    /// Output element type.
    pub ttype: GgmlType,
    /// ggml dims, innermost first.
    pub ne: Vec<usize>,
    /// The CTranslate2 name the data comes from.
    pub src_name: String,
    pub src: &'m Variable<'a>,
    /// Per-row (or single) dequantization scale for int8/int16 sources.
    pub scale: Option<&'m Variable<'a>>,
    /// Which outer rows of `src` this tensor takes.
    pub rows: Range<usize>,
}

/// The complete conversion plan.
pub(crate) struct Plan<'m, 'a> {
    pub hparams: Hparams,
    pub tensors: Vec<OutTensor<'m, 'a>>,
}

/// Validates `model` and maps it to the whisper.cpp tensor list.
pub(crate) fn plan<'m, 'a>(model: &'m Ct2Model<'a>) -> Result<Plan<'m, 'a>, ImportError> {
    let file = model.file.as_str();
    if model.spec_name != "WhisperSpec" {
        return Err(ImportError::UnsupportedSpec {
            file: file.to_owned(),
            found: model.spec_name.clone(),
        });
    }
    let mut b = Builder {
        model,
        file,
        consumed: BTreeSet::new(),
        out: Vec::new(),
    };

    // --- hparams, derived from the tensors -------------------------------------
    let conv1 = b.get("encoder/conv1/weight")?;
    let [d, n_mels, kernel] = b.dims::<3>("encoder/conv1/weight", conv1)?;
    if kernel != 3 {
        return Err(ImportError::tensor(
            file,
            "encoder/conv1/weight",
            format!("kernel size {kernel}, whisper.cpp only supports 3"),
        ));
    }
    let enc_pos = b.get("encoder/position_encodings/encodings")?;
    let [n_audio_ctx, _] = b.dims::<2>("encoder/position_encodings/encodings", enc_pos)?;
    let emb = b.get("decoder/embeddings/weight")?;
    let [n_vocab, d_text] = b.dims::<2>("decoder/embeddings/weight", emb)?;
    let dec_pos = b.get("decoder/position_encodings/encodings")?;
    let [n_text_ctx, _] = b.dims::<2>("decoder/position_encodings/encodings", dec_pos)?;
    if d_text != d {
        return Err(ImportError::unsupported(
            file,
            format!("decoder width {d_text} differs from encoder width {d}; whisper.cpp needs them equal"),
        ));
    }
    for (what, v) in [
        ("model width", d),
        ("n_mels", n_mels),
        ("n_audio_ctx", n_audio_ctx),
        ("n_vocab", n_vocab),
        ("n_text_ctx", n_text_ctx),
    ] {
        if v == 0 {
            return Err(ImportError::unsupported(file, format!("{what} is 0")));
        }
    }
    let n_audio_layer = b.layer_count("encoder")?;
    let n_text_layer = b.layer_count("decoder")?;
    let n_audio_head = b.heads("encoder/num_heads", d)?;
    let n_text_head = b.heads("decoder/num_heads", d)?;
    b.check_flags()?;

    let i32_of = |v: usize, what: &str| {
        i32::try_from(v)
            .map_err(|_| ImportError::unsupported(file, format!("{what} {v} is too large")))
    };
    let hparams = Hparams {
        n_vocab: i32_of(n_vocab, "n_vocab")?,
        n_audio_ctx: i32_of(n_audio_ctx, "n_audio_ctx")?,
        n_audio_state: i32_of(d, "n_audio_state")?,
        n_audio_head: i32_of(n_audio_head, "n_audio_head")?,
        n_audio_layer: i32_of(n_audio_layer, "n_audio_layer")?,
        n_text_ctx: i32_of(n_text_ctx, "n_text_ctx")?,
        n_text_state: i32_of(d, "n_text_state")?,
        n_text_head: i32_of(n_text_head, "n_text_head")?,
        n_text_layer: i32_of(n_text_layer, "n_text_layer")?,
        n_mels: i32_of(n_mels, "n_mels")?,
        ftype: 1,
    };

    // --- tensors, in the order of whisper.cpp's convert-pt-to-ggml.py -----------
    b.whole(
        "encoder.positional_embedding",
        "encoder/position_encodings/encodings",
        &[n_audio_ctx, d],
        GgmlType::F32,
    )?;
    b.whole(
        "encoder.conv1.weight",
        "encoder/conv1/weight",
        &[d, n_mels, 3],
        GgmlType::F16,
    )?;
    b.conv_bias("encoder.conv1.bias", "encoder/conv1/bias", d)?;
    b.whole(
        "encoder.conv2.weight",
        "encoder/conv2/weight",
        &[d, d, 3],
        GgmlType::F16,
    )?;
    b.conv_bias("encoder.conv2.bias", "encoder/conv2/bias", d)?;
    for i in 0..n_audio_layer {
        let (g, c) = (format!("encoder.blocks.{i}"), format!("encoder/layer_{i}"));
        b.layer_norm(
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
            d,
        )?;
        b.fused(
            &format!("{g}.attn"),
            &format!("{c}/self_attention/linear_0"),
            &["query", "key", "value"],
            d,
        )?;
        b.linear(
            &format!("{g}.attn.out"),
            &format!("{c}/self_attention/linear_1"),
            d,
            d,
        )?;
        b.layer_norm(&format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"), d)?;
        b.linear(
            &format!("{g}.mlp.0"),
            &format!("{c}/ffn/linear_0"),
            4 * d,
            d,
        )?;
        b.linear(
            &format!("{g}.mlp.2"),
            &format!("{c}/ffn/linear_1"),
            d,
            4 * d,
        )?;
    }
    b.layer_norm("encoder.ln_post", "encoder/layer_norm", d)?;

    b.whole(
        "decoder.positional_embedding",
        "decoder/position_encodings/encodings",
        &[n_text_ctx, d],
        GgmlType::F32,
    )?;
    b.whole(
        "decoder.token_embedding.weight",
        "decoder/embeddings/weight",
        &[n_vocab, d],
        GgmlType::F16,
    )?;
    for i in 0..n_text_layer {
        let (g, c) = (format!("decoder.blocks.{i}"), format!("decoder/layer_{i}"));
        b.layer_norm(
            &format!("{g}.attn_ln"),
            &format!("{c}/self_attention/layer_norm"),
            d,
        )?;
        b.fused(
            &format!("{g}.attn"),
            &format!("{c}/self_attention/linear_0"),
            &["query", "key", "value"],
            d,
        )?;
        b.linear(
            &format!("{g}.attn.out"),
            &format!("{c}/self_attention/linear_1"),
            d,
            d,
        )?;
        b.layer_norm(
            &format!("{g}.cross_attn_ln"),
            &format!("{c}/attention/layer_norm"),
            d,
        )?;
        b.linear(
            &format!("{g}.cross_attn.query"),
            &format!("{c}/attention/linear_0"),
            d,
            d,
        )?;
        b.fused(
            &format!("{g}.cross_attn"),
            &format!("{c}/attention/linear_1"),
            &["key", "value"],
            d,
        )?;
        b.linear(
            &format!("{g}.cross_attn.out"),
            &format!("{c}/attention/linear_2"),
            d,
            d,
        )?;
        b.layer_norm(&format!("{g}.mlp_ln"), &format!("{c}/ffn/layer_norm"), d)?;
        b.linear(
            &format!("{g}.mlp.0"),
            &format!("{c}/ffn/linear_0"),
            4 * d,
            d,
        )?;
        b.linear(
            &format!("{g}.mlp.2"),
            &format!("{c}/ffn/linear_1"),
            d,
            4 * d,
        )?;
    }
    b.layer_norm("decoder.ln", "decoder/layer_norm", d)?;
    b.check_tied_projection()?;
    b.check_all_consumed()?;

    Ok(Plan {
        hparams,
        tensors: b.out,
    })
}

struct Builder<'m, 'a> {
    model: &'m Ct2Model<'a>,
    file: &'m str,
    consumed: BTreeSet<String>,
    out: Vec<OutTensor<'m, 'a>>,
}

impl<'m, 'a> Builder<'m, 'a> {
    fn get(&self, name: &str) -> Result<&'m Variable<'a>, ImportError> {
        self.model
            .get(name)
            .ok_or_else(|| ImportError::missing(self.file, name))
    }

    fn dims<const N: usize>(
        &self,
        name: &str,
        v: &Variable<'_>,
    ) -> Result<[usize; N], ImportError> {
        <[usize; N]>::try_from(v.shape.as_slice()).map_err(|_| {
            ImportError::tensor(
                self.file,
                name,
                format!("has shape {:?}, expected rank {N}", v.shape),
            )
        })
    }

    /// Fetches a weight-carrying variable, checks its shape and dtype, marks it
    /// (and its `_scale`) consumed.
    fn take(
        &mut self,
        name: &str,
        shape: &[usize],
    ) -> Result<(&'m Variable<'a>, Option<&'m Variable<'a>>), ImportError> {
        let v = self.get(name)?;
        if v.shape != shape {
            return Err(ImportError::tensor(
                self.file,
                name,
                format!("has shape {:?}, expected {shape:?}", v.shape),
            ));
        }
        self.consumed.insert(name.to_owned());
        let scale =
            match v.dtype {
                DType::F32 | DType::F16 | DType::BF16 => None,
                DType::I8 | DType::I16 => Some(self.scale_for(name, v)?),
                DType::I32 => return Err(ImportError::tensor(
                    self.file,
                    name,
                    "int32 weights are not supported (expected float or int8/int16 with _scale)",
                )),
            };
        Ok((v, scale))
    }

    fn scale_for(&mut self, name: &str, v: &Variable<'_>) -> Result<&'m Variable<'a>, ImportError> {
        let scale_name = format!("{name}_scale");
        let s = self.model.get(&scale_name).ok_or_else(|| {
            ImportError::tensor(
                self.file,
                name,
                format!("{} weights need the scale variable {scale_name}", v.dtype),
            )
        })?;
        if !s.dtype.is_float() {
            return Err(ImportError::tensor(
                self.file,
                &scale_name,
                format!("scale has dtype {}, expected a float type", s.dtype),
            ));
        }
        if s.numel() != 1 && s.numel() != v.rows() {
            return Err(ImportError::tensor(
                self.file,
                &scale_name,
                format!(
                    "has {} values, expected 1 or one per row ({})",
                    s.numel(),
                    v.rows()
                ),
            ));
        }
        if let Some(i) = (0..s.numel()).find(|&i| {
            let x = s.get_f32(i);
            !(x.is_finite() && x != 0.0)
        }) {
            return Err(ImportError::tensor(
                self.file,
                &scale_name,
                format!(
                    "value {i} is {}, expected a finite non-zero scale",
                    s.get_f32(i)
                ),
            ));
        }
        self.consumed.insert(scale_name);
        Ok(s)
    }

    fn push(
        &mut self,
        name: String,
        src_name: &str,
        (src, scale): (&'m Variable<'a>, Option<&'m Variable<'a>>),
        ttype: GgmlType,
        ne: Vec<usize>,
        rows: Range<usize>,
    ) {
        self.out.push(OutTensor {
            name,
            ttype,
            ne,
            src_name: src_name.to_owned(),
            src,
            scale,
            rows,
        });
    }

    /// A tensor copied whole; ggml dims are the reversed shape.
    fn whole(
        &mut self,
        name: &str,
        src: &str,
        shape: &[usize],
        ttype: GgmlType,
    ) -> Result<(), ImportError> {
        let v = self.take(src, shape)?;
        let ne = shape.iter().rev().copied().collect();
        self.push(name.to_owned(), src, v, ttype, ne, 0..shape[0]);
        Ok(())
    }

    /// A conv bias (d) stored as a 2-D f32 tensor of ggml dims [1, d].
    fn conv_bias(&mut self, name: &str, src: &str, d: usize) -> Result<(), ImportError> {
        let v = self.take(src, &[d])?;
        self.push(name.to_owned(), src, v, GgmlType::F32, vec![1, d], 0..d);
        Ok(())
    }

    fn layer_norm(&mut self, name: &str, src: &str, d: usize) -> Result<(), ImportError> {
        for (param, suffix) in [("gamma", "weight"), ("beta", "bias")] {
            let s = format!("{src}/{param}");
            let v = self.take(&s, &[d])?;
            self.push(
                format!("{name}.{suffix}"),
                &s,
                v,
                GgmlType::F32,
                vec![d],
                0..d,
            );
        }
        Ok(())
    }

    fn linear(&mut self, name: &str, src: &str, out: usize, inp: usize) -> Result<(), ImportError> {
        let w = format!("{src}/weight");
        let v = self.take(&w, &[out, inp])?;
        self.push(
            format!("{name}.weight"),
            &w,
            v,
            GgmlType::F16,
            vec![inp, out],
            0..out,
        );
        let bias = format!("{src}/bias");
        let v = self.take(&bias, &[out])?;
        self.push(
            format!("{name}.bias"),
            &bias,
            v,
            GgmlType::F32,
            vec![out],
            0..out,
        );
        Ok(())
    }

    /// A fused projection whose rows are split into `parts` (each `d` rows). The
    /// `key` part has no bias in whisper.cpp: its bias must be all zeros and is dropped.
    fn fused(
        &mut self,
        name: &str,
        src: &str,
        parts: &[&str],
        d: usize,
    ) -> Result<(), ImportError> {
        let n = parts.len() * d;
        let w_name = format!("{src}/weight");
        let b_name = format!("{src}/bias");
        let w = self.take(&w_name, &[n, d])?;
        let b = self.take(&b_name, &[n])?;
        for (k, part) in parts.iter().enumerate() {
            let rows = k * d..(k + 1) * d;
            self.push(
                format!("{name}.{part}.weight"),
                &w_name,
                w,
                GgmlType::F16,
                vec![d, d],
                rows.clone(),
            );
            if *part == "key" {
                let bias = b.0;
                if let Some(i) = rows.clone().find(|&i| bias.get_f32(i) != 0.0) {
                    return Err(ImportError::tensor(
                        self.file,
                        &b_name,
                        format!(
                            "key bias is not zero (element {i} = {}); whisper.cpp has no key bias",
                            bias.get_f32(i)
                        ),
                    ));
                }
            } else {
                self.push(
                    format!("{name}.{part}.bias"),
                    &b_name,
                    b,
                    GgmlType::F32,
                    vec![d],
                    rows,
                );
            }
        }
        Ok(())
    }

    /// Number of `{prefix}/layer_N/` blocks; they must be numbered 0..n.
    fn layer_count(&self, prefix: &str) -> Result<usize, ImportError> {
        let head = format!("{prefix}/layer_");
        let mut seen = BTreeSet::new();
        for name in self.model.names() {
            let Some(rest) = name.strip_prefix(&head) else {
                continue;
            };
            let Some((num, _)) = rest.split_once('/') else {
                continue;
            };
            // "layer_norm/..." is not a block.
            if num.bytes().all(|c| c.is_ascii_digit()) {
                if let Ok(i) = num.parse::<usize>() {
                    seen.insert(i);
                }
            }
        }
        let n = seen.len();
        if n == 0 {
            return Err(ImportError::unsupported(
                self.file,
                format!("no {prefix} layers ({head}N/...)"),
            ));
        }
        if seen.iter().next_back() != Some(&(n - 1)) {
            return Err(ImportError::unsupported(
                self.file,
                format!("{prefix} layers are not numbered 0..{n}: found {seen:?}"),
            ));
        }
        Ok(n)
    }

    fn scalar(&mut self, name: &str) -> Result<Option<i64>, ImportError> {
        let Some(v) = self.model.get(name) else {
            return Ok(None);
        };
        let value = v.as_i64().ok_or_else(|| {
            ImportError::tensor(
                self.file,
                name,
                format!(
                    "expected an integer scalar, found {} of shape {:?}",
                    v.dtype, v.shape
                ),
            )
        })?;
        self.consumed.insert(name.to_owned());
        Ok(Some(value))
    }

    fn heads(&mut self, name: &str, d: usize) -> Result<usize, ImportError> {
        let h = self
            .scalar(name)?
            .ok_or_else(|| ImportError::missing(self.file, name))?;
        match usize::try_from(h) {
            Ok(h) if h > 0 && d.is_multiple_of(h) => Ok(h),
            _ => Err(ImportError::tensor(
                self.file,
                name,
                format!("{h} heads do not divide the model width {d}"),
            )),
        }
    }

    /// Architecture flags: whisper.cpp implements exactly pre-norm, GELU, learned
    /// decoder positions and unscaled embeddings.
    fn check_flags(&mut self) -> Result<(), ImportError> {
        let act = self
            .scalar("decoder/activation")?
            .ok_or_else(|| ImportError::missing(self.file, "decoder/activation"))?;
        if act != GELU {
            return Err(ImportError::tensor(
                self.file,
                "decoder/activation",
                format!(
                    "activation {act} is not GELU ({GELU}), the only one whisper.cpp implements"
                ),
            ));
        }
        let required: [(&str, i64); 8] = [
            ("decoder/pre_norm", 1),
            ("decoder/alibi", 0),
            ("decoder/scale_embeddings", 0),
            ("decoder/start_from_zero_embedding", 0),
            ("decoder/rms_norm", 0),
            ("decoder/parallel_residual", 0),
            ("decoder/shared_layer_norm", 0),
            ("decoder/multi_query_attention", 0),
        ];
        for (name, want) in required {
            if let Some(v) = self.scalar(name)? {
                if v != want {
                    return Err(ImportError::tensor(
                        self.file,
                        name,
                        format!("is {v}, whisper.cpp only supports {want}"),
                    ));
                }
            }
        }
        // Metadata that does not affect inference.
        for name in [
            "decoder/alignment_heads",
            "decoder/alignment_layer",
            "decoder/alibi_use_positive_positions",
            "decoder/scale_alibi",
        ] {
            self.scalar(name)?;
        }
        Ok(())
    }

    /// whisper.cpp always ties the output projection to the token embedding, so
    /// the CTranslate2 projection must be tied (an alias, or identical data).
    fn check_tied_projection(&mut self) -> Result<(), ImportError> {
        const PROJ: &str = "decoder/projection/weight";
        const EMB: &str = "decoder/embeddings/weight";
        if let Some(target) = self.model.aliases.get(PROJ) {
            if target != EMB {
                return Err(ImportError::tensor(
                    self.file,
                    PROJ,
                    format!("is an alias of {target}, but whisper.cpp ties it to {EMB}"),
                ));
            }
        } else if let Some(p) = self.model.variables.get(PROJ) {
            let e = self.get(EMB)?;
            let same_scale = match (
                self.model.get(&format!("{PROJ}_scale")),
                self.model.get(&format!("{EMB}_scale")),
            ) {
                (None, None) => true,
                (Some(a), Some(b)) => a.dtype == b.dtype && a.data == b.data,
                _ => false,
            };
            if !(p.shape == e.shape && p.dtype == e.dtype && p.data == e.data && same_scale) {
                return Err(ImportError::tensor(
                    self.file,
                    PROJ,
                    format!("differs from {EMB}; whisper.cpp needs the output projection tied to the embedding"),
                ));
            }
            self.consumed.insert(format!("{PROJ}_scale"));
        }
        self.consumed.insert(PROJ.to_owned());
        const BIAS: &str = "decoder/projection/bias";
        if let Some(bias) = self.model.get(BIAS) {
            if let Some(i) = (0..bias.numel()).find(|&i| bias.get_f32(i) != 0.0) {
                return Err(ImportError::tensor(
                    self.file,
                    BIAS,
                    format!(
                        "is not zero (element {i} = {}); whisper.cpp has no output bias",
                        bias.get_f32(i)
                    ),
                ));
            }
            self.consumed.insert(BIAS.to_owned());
        }
        Ok(())
    }

    fn check_all_consumed(&self) -> Result<(), ImportError> {
        for name in self.model.names() {
            if self.consumed.contains(name) {
                continue;
            }
            let what = match self.model.get(name) {
                Some(v) if v.shape.is_empty() => match v.as_i64() {
                    Some(x) => format!("unsupported architecture flag {name} = {x}"),
                    None => format!("unsupported architecture flag {name}"),
                },
                _ => format!("variable {name} has no whisper.cpp counterpart"),
            };
            return Err(ImportError::unsupported(self.file, what));
        }
        Ok(())
    }
}

/// The output bytes of one tensor: borrowed when the source is already in the
/// target type (f16 → f16, f32 → f32), converted otherwise.
pub(crate) fn encode<'a>(t: &OutTensor<'_, 'a>, file: &str) -> Result<Cow<'a, [u8]>, ImportError> {
    let src = t.src;
    let row_len = src.row_len();
    let elems = t.rows.start * row_len..t.rows.end * row_len;
    let expected: usize = t.ne.iter().product();
    if elems.len() != expected {
        // Guarded by the shape checks of the plan; kept as a defensive error.
        return Err(ImportError::tensor(
            file,
            &t.src_name,
            format!(
                "{} elements selected for {}, expected {expected}",
                elems.len(),
                t.name
            ),
        ));
    }
    let same = matches!(
        (src.dtype, t.ttype),
        (DType::F16, GgmlType::F16) | (DType::F32, GgmlType::F32)
    );
    if same {
        let s = src.dtype.size();
        let data: &'a [u8] = src.data;
        return Ok(Cow::Borrowed(&data[elems.start * s..elems.end * s]));
    }
    let value = |i: usize| -> f32 {
        let x = src.get_f32(i);
        match t.scale {
            None => x,
            Some(scale) => {
                let k = if scale.numel() == 1 { 0 } else { i / row_len };
                x / scale.get_f32(k)
            }
        }
    };
    let mut out = Vec::with_capacity(expected * t.ttype.size());
    match t.ttype {
        GgmlType::F16 => {
            for i in elems {
                out.extend_from_slice(&f16::from_f32(value(i)).to_le_bytes());
            }
        }
        GgmlType::F32 => {
            for i in elems {
                out.extend_from_slice(&value(i).to_le_bytes());
            }
        }
    }
    Ok(Cow::Owned(out))
}
