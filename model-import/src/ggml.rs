//! The legacy whisper.cpp ggml model file (as written by whisper.cpp's
//! `models/convert-pt-to-ggml.py` and read by `whisper_model_load`).
//!
//! ```text
//! i32 magic 0x67676d6c
//! i32 × 11 hparams (n_vocab … n_mels, ftype)
//! i32 n_mel, i32 n_fft_bins, f32[n_mel × n_fft_bins] mel filters
//! i32 n_tokens, n_tokens × { i32 len, bytes }
//! until EOF: { i32 n_dims, i32 name_len, i32 ttype, i32 ne[n_dims] (innermost first), name, data }
//! ```
//!
//! All integers are little-endian.

use std::io::{self, Write};
use std::path::Path;

use serde::Serialize;

use crate::error::ImportError;

/// The file magic (`"ggml"` as a little-endian u32).
pub const GGML_MAGIC: u32 = 0x6767_6d6c;

/// Tensor element type in the ggml file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
pub enum GgmlType {
    /// float32 (type id 0).
    F32,
    /// float16 (type id 1).
    F16,
}

impl GgmlType {
    /// The on-disk type id.
    pub fn id(self) -> i32 {
        match self {
            GgmlType::F32 => 0,
            GgmlType::F16 => 1,
        }
    }

    /// Bytes per element.
    pub fn size(self) -> usize {
        match self {
            GgmlType::F32 => 4,
            GgmlType::F16 => 2,
        }
    }

    fn from_id(id: i32) -> Option<Self> {
        match id {
            0 => Some(GgmlType::F32),
            1 => Some(GgmlType::F16),
            _ => None,
        }
    }
}

/// Whisper hyper-parameters, in the order of the ggml header.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Hparams {
    /// Vocabulary size (rows of the token embedding); ≥ 51865 means multilingual.
    pub n_vocab: i32,
    /// Encoder positions (1500).
    pub n_audio_ctx: i32,
    /// Encoder width.
    pub n_audio_state: i32,
    /// Encoder attention heads.
    pub n_audio_head: i32,
    /// Encoder layers.
    pub n_audio_layer: i32,
    /// Decoder positions (448).
    pub n_text_ctx: i32,
    /// Decoder width.
    pub n_text_state: i32,
    /// Decoder attention heads.
    pub n_text_head: i32,
    /// Decoder layers.
    pub n_text_layer: i32,
    /// Mel bands of the input (80, or 128 for large-v3).
    pub n_mels: i32,
    /// Weight type: 1 = float16 (0 = float32 crashes whisper.cpp 1.8.3 on CPU).
    pub ftype: i32,
}

impl Hparams {
    fn as_array(&self) -> [i32; 11] {
        [
            self.n_vocab,
            self.n_audio_ctx,
            self.n_audio_state,
            self.n_audio_head,
            self.n_audio_layer,
            self.n_text_ctx,
            self.n_text_state,
            self.n_text_head,
            self.n_text_layer,
            self.n_mels,
            self.ftype,
        ]
    }

    fn from_array(a: [i32; 11]) -> Self {
        Hparams {
            n_vocab: a[0],
            n_audio_ctx: a[1],
            n_audio_state: a[2],
            n_audio_head: a[3],
            n_audio_layer: a[4],
            n_text_ctx: a[5],
            n_text_state: a[6],
            n_text_head: a[7],
            n_text_layer: a[8],
            n_mels: a[9],
            ftype: a[10],
        }
    }
}

fn i32_of(v: usize, what: &str) -> io::Result<i32> {
    i32::try_from(v).map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{what} {v} does not fit the ggml i32 field"),
        )
    })
}

/// Streams a ggml file section by section. The caller must call the methods in
/// file order: header, mel filters, vocabulary, then tensors.
pub struct GgmlWriter<W: Write> {
    w: W,
}

impl<W: Write> GgmlWriter<W> {
    /// Wraps a byte sink.
    pub fn new(w: W) -> Self {
        GgmlWriter { w }
    }

    /// Returns the sink.
    pub fn into_inner(self) -> W {
        self.w
    }

    fn i32(&mut self, v: i32) -> io::Result<()> {
        self.w.write_all(&v.to_le_bytes())
    }

    /// Magic and hparams.
    pub fn header(&mut self, hp: &Hparams) -> io::Result<()> {
        self.w.write_all(&GGML_MAGIC.to_le_bytes())?;
        for v in hp.as_array() {
            self.i32(v)?;
        }
        Ok(())
    }

    /// The mel filterbank, `n_mel` rows of `n_fft_bins` values.
    pub fn mel_filters(&mut self, n_mel: usize, n_fft_bins: usize, data: &[f32]) -> io::Result<()> {
        if n_mel.checked_mul(n_fft_bins) != Some(data.len()) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "mel filter data does not match its shape",
            ));
        }
        self.i32(i32_of(n_mel, "n_mel")?)?;
        self.i32(i32_of(n_fft_bins, "n_fft_bins")?)?;
        let bytes: Vec<u8> = data.iter().flat_map(|x| x.to_le_bytes()).collect();
        self.w.write_all(&bytes)
    }

    /// The ordinary tokens as raw bytes.
    pub fn vocabulary(&mut self, tokens: &[Vec<u8>]) -> io::Result<()> {
        self.i32(i32_of(tokens.len(), "token count")?)?;
        for t in tokens {
            self.i32(i32_of(t.len(), "token length")?)?;
            self.w.write_all(t)?;
        }
        Ok(())
    }

    /// A tensor header; `ne` is in ggml order (innermost dimension first). The
    /// caller then writes exactly `product(ne) × ttype.size()` bytes with [`Self::data`].
    pub fn tensor_header(&mut self, name: &str, ttype: GgmlType, ne: &[usize]) -> io::Result<()> {
        self.i32(i32_of(ne.len(), "tensor rank")?)?;
        self.i32(i32_of(name.len(), "tensor name length")?)?;
        self.i32(ttype.id())?;
        for &d in ne {
            self.i32(i32_of(d, "tensor dimension")?)?;
        }
        self.w.write_all(name.as_bytes())
    }

    /// Raw tensor data (little-endian, C order).
    pub fn data(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.w.write_all(bytes)
    }
}

/// One tensor entry of a ggml file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// whisper.cpp tensor name.
    pub name: String,
    /// Element type.
    pub ttype: GgmlType,
    /// Dimensions, innermost first.
    pub ne: Vec<usize>,
    /// Offset of the data in the file.
    pub offset: usize,
    /// Length of the data in bytes.
    pub len: usize,
}

/// The structure of a ggml Whisper file (everything except the tensor data).
#[derive(Clone, Debug, Serialize)]
pub struct GgmlSummary {
    /// The header.
    pub hparams: Hparams,
    /// Mel bands in the filterbank.
    pub n_mel: usize,
    /// FFT bins in the filterbank.
    pub n_fft_bins: usize,
    /// The filterbank (`n_mel × n_fft_bins`).
    pub mel_filters: Vec<f32>,
    /// The ordinary tokens as raw bytes.
    pub tokens: Vec<Vec<u8>>,
    /// Tensors, in file order.
    pub tensors: Vec<TensorInfo>,
}

/// Reads the structure of the ggml file at `path` and checks that it is well formed.
pub fn read_summary(path: &Path) -> Result<GgmlSummary, ImportError> {
    let bytes = std::fs::read(path).map_err(|e| ImportError::io(path, "read", e))?;
    parse_summary(&path.display().to_string(), &bytes)
}

/// Like [`read_summary`], for a file held in memory; `file` labels error messages.
pub fn parse_summary(file: &str, bytes: &[u8]) -> Result<GgmlSummary, ImportError> {
    let mut pos = 0usize;
    let err = |offset: usize, field: &str, msg: &str| ImportError::Format {
        file: file.to_owned(),
        offset,
        field: field.to_owned(),
        msg: msg.to_owned(),
    };
    let take = |pos: &mut usize, n: usize, field: &str| -> Result<&[u8], ImportError> {
        let end = pos
            .checked_add(n)
            .filter(|&e| e <= bytes.len())
            .ok_or_else(|| err(*pos, field, "file is truncated"))?;
        let s = &bytes[*pos..end];
        *pos = end;
        Ok(s)
    };
    let i32_at = |pos: &mut usize, field: &str| -> Result<i32, ImportError> {
        let b = take(pos, 4, field)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    };
    let usize_at = |pos: &mut usize, field: &str| -> Result<usize, ImportError> {
        let at = *pos;
        let v = i32_at(pos, field)?;
        usize::try_from(v).map_err(|_| err(at, field, "negative value"))
    };

    if i32_at(&mut pos, "magic")? as u32 != GGML_MAGIC {
        return Err(err(0, "magic", "not a ggml file"));
    }
    let mut hp = [0i32; 11];
    for v in &mut hp {
        *v = i32_at(&mut pos, "hparams")?;
    }
    let hparams = Hparams::from_array(hp);
    let n_mel = usize_at(&mut pos, "n_mel")?;
    let n_fft_bins = usize_at(&mut pos, "n_fft_bins")?;
    let n = n_mel
        .checked_mul(n_fft_bins)
        .and_then(|n| n.checked_mul(4))
        .ok_or_else(|| err(pos, "mel filters", "size overflows"))?;
    let mel_filters = take(&mut pos, n, "mel filters")?
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let n_tokens = usize_at(&mut pos, "token count")?;
    let mut tokens = Vec::with_capacity(n_tokens.min(1 << 20));
    for i in 0..n_tokens {
        let len = usize_at(&mut pos, &format!("token {i}: length"))?;
        tokens.push(take(&mut pos, len, &format!("token {i}"))?.to_vec());
    }
    let mut tensors = Vec::new();
    while pos < bytes.len() {
        let at = pos;
        let field = format!("tensor #{}", tensors.len());
        let n_dims = usize_at(&mut pos, &field)?;
        let name_len = usize_at(&mut pos, &field)?;
        let ttype_id = i32_at(&mut pos, &field)?;
        let ttype = GgmlType::from_id(ttype_id)
            .ok_or_else(|| err(at, &field, &format!("unsupported type {ttype_id}")))?;
        if n_dims > 4 {
            return Err(err(at, &field, "more than 4 dimensions"));
        }
        let mut ne = Vec::with_capacity(n_dims);
        for _ in 0..n_dims {
            ne.push(usize_at(&mut pos, &field)?);
        }
        let name = std::str::from_utf8(take(&mut pos, name_len, &field)?)
            .map_err(|_| err(at, &field, "name is not UTF-8"))?
            .to_owned();
        let len = ne
            .iter()
            .try_fold(ttype.size(), |a, &d| a.checked_mul(d))
            .ok_or_else(|| err(at, &field, "size overflows"))?;
        let offset = pos;
        take(&mut pos, len, &format!("tensor {name}: data"))?;
        tensors.push(TensorInfo {
            name,
            ttype,
            ne,
            offset,
            len,
        });
    }
    Ok(GgmlSummary {
        hparams,
        n_mel,
        n_fft_bins,
        mel_filters,
        tokens,
        tensors,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_and_reads_back() {
        let hp = Hparams {
            n_vocab: 3,
            n_audio_ctx: 2,
            n_audio_state: 4,
            n_audio_head: 1,
            n_audio_layer: 1,
            n_text_ctx: 2,
            n_text_state: 4,
            n_text_head: 1,
            n_text_layer: 1,
            n_mels: 2,
            ftype: 1,
        };
        let mut w = GgmlWriter::new(Vec::new());
        w.header(&hp).expect("header");
        w.mel_filters(2, 3, &[0.0, 0.5, 1.0, 1.5, 2.0, 2.5])
            .expect("mel");
        w.vocabulary(&[b"a".to_vec(), b" b".to_vec()])
            .expect("vocab");
        w.tensor_header("t.weight", GgmlType::F16, &[2, 1])
            .expect("th");
        w.data(&[1, 2, 3, 4]).expect("data");
        w.tensor_header("t.bias", GgmlType::F32, &[1]).expect("th");
        w.data(&1.0f32.to_le_bytes()).expect("data");
        let bytes = w.into_inner();

        assert_eq!(&bytes[0..4], b"lmgg");
        let s = parse_summary("x.bin", &bytes).expect("parse");
        assert_eq!(s.hparams, hp);
        assert_eq!((s.n_mel, s.n_fft_bins), (2, 3));
        assert_eq!(s.mel_filters[5], 2.5);
        assert_eq!(s.tokens, vec![b"a".to_vec(), b" b".to_vec()]);
        assert_eq!(s.tensors.len(), 2);
        assert_eq!(s.tensors[0].name, "t.weight");
        assert_eq!(s.tensors[0].ne, vec![2, 1]);
        assert_eq!(&bytes[s.tensors[0].offset..][..4], &[1, 2, 3, 4]);
        assert_eq!(s.tensors[1].ttype, GgmlType::F32);

        let err = parse_summary("x.bin", &bytes[..bytes.len() - 1]).unwrap_err();
        assert!(
            err.to_string()
                .contains("tensor t.bias: data: file is truncated"),
            "{err}"
        );
    }
}
