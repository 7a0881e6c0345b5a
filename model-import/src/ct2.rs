//! Reader for CTranslate2 `model.bin` files (binary version 6).
//!
//! Layout (all integers little-endian, no padding):
//!
//! ```text
//! u32 binary_version, string spec_name, u32 spec_revision, u32 n_variables,
//! n_variables × { string name, u8 rank, u32[rank] shape, u8 dtype, u32 n_bytes, u8[n_bytes] },
//! u32 n_aliases, n_aliases × { string alias, string target }
//! string = u16 length including the trailing NUL, the UTF-8 bytes, then 0x00
//! ```
//!
//! The reader borrows the tensor data from the input buffer; nothing is copied.

use std::collections::BTreeMap;

use half::{bf16, f16};

use crate::error::ImportError;

/// The only CTranslate2 binary version this reader accepts.
pub const SUPPORTED_BINARY_VERSION: u32 = 6;

/// Element type of a CTranslate2 variable.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DType {
    /// IEEE float32 (id 0).
    F32,
    /// Signed 8-bit integer (id 1), used for quantized weights.
    I8,
    /// Signed 16-bit integer (id 2), used for quantized weights and small scalars.
    I16,
    /// Signed 32-bit integer (id 3).
    I32,
    /// IEEE float16 (id 4).
    F16,
    /// bfloat16 (id 5).
    BF16,
}

impl DType {
    /// Decodes the on-disk dtype id.
    pub fn from_id(id: u8) -> Option<DType> {
        Some(match id {
            0 => DType::F32,
            1 => DType::I8,
            2 => DType::I16,
            3 => DType::I32,
            4 => DType::F16,
            5 => DType::BF16,
            _ => return None,
        })
    }

    /// Size of one element in bytes.
    pub fn size(self) -> usize {
        match self {
            DType::I8 => 1,
            DType::I16 | DType::F16 | DType::BF16 => 2,
            DType::F32 | DType::I32 => 4,
        }
    }

    /// Whether this is a floating-point type.
    pub fn is_float(self) -> bool {
        matches!(self, DType::F32 | DType::F16 | DType::BF16)
    }

    /// Lower-case name as CTranslate2 spells it (`float16`, `int8`, ...).
    pub fn name(self) -> &'static str {
        match self {
            DType::F32 => "float32",
            DType::I8 => "int8",
            DType::I16 => "int16",
            DType::I32 => "int32",
            DType::F16 => "float16",
            DType::BF16 => "bfloat16",
        }
    }
}

impl std::fmt::Display for DType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One variable (tensor or scalar) of a CTranslate2 model.
#[derive(Clone, Debug)]
pub struct Variable<'a> {
    /// Shape, outermost dimension first (numpy order). Empty for scalars.
    pub shape: Vec<usize>,
    /// Element type.
    pub dtype: DType,
    /// Raw little-endian, C-contiguous data, borrowed from the file buffer.
    pub data: &'a [u8],
}

impl Variable<'_> {
    /// Number of elements (1 for a scalar).
    pub fn numel(&self) -> usize {
        self.data.len() / self.dtype.size()
    }

    /// Number of rows (the outermost dimension; 1 for a scalar).
    pub fn rows(&self) -> usize {
        self.shape.first().copied().unwrap_or(1)
    }

    /// Elements per row (`numel / rows`).
    pub fn row_len(&self) -> usize {
        match self.rows() {
            0 => 0,
            r => self.numel() / r,
        }
    }

    /// Element `i` converted to f32 (integers are converted by value).
    ///
    /// # Panics
    /// If `i >= self.numel()`.
    pub fn get_f32(&self, i: usize) -> f32 {
        let s = self.dtype.size();
        let b = &self.data[i * s..(i + 1) * s];
        match self.dtype {
            DType::F32 => f32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            DType::F16 => f16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::BF16 => bf16::from_le_bytes([b[0], b[1]]).to_f32(),
            DType::I8 => f32::from(b[0] as i8),
            DType::I16 => f32::from(i16::from_le_bytes([b[0], b[1]])),
            DType::I32 => i32::from_le_bytes([b[0], b[1], b[2], b[3]]) as f32,
        }
    }

    /// The value of a single-element variable as an integer, if it is one
    /// (integer dtype, or a float with an integral value).
    pub fn as_i64(&self) -> Option<i64> {
        if self.numel() != 1 {
            return None;
        }
        let b = self.data;
        match self.dtype {
            DType::I8 => Some(i64::from(b[0] as i8)),
            DType::I16 => Some(i64::from(i16::from_le_bytes([b[0], b[1]]))),
            DType::I32 => Some(i64::from(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))),
            DType::F32 | DType::F16 | DType::BF16 => {
                let v = self.get_f32(0);
                (v.fract() == 0.0 && v.abs() < 1e15).then_some(v as i64)
            }
        }
    }
}

/// A parsed CTranslate2 model; borrows the file contents.
#[derive(Clone, Debug)]
pub struct Ct2Model<'a> {
    /// Label of the file (its path), used in error messages.
    pub file: String,
    /// Binary format version (always [`SUPPORTED_BINARY_VERSION`] after a successful parse).
    pub binary_version: u32,
    /// Spec name, e.g. `WhisperSpec`.
    pub spec_name: String,
    /// Spec revision.
    pub spec_revision: u32,
    /// Variables by name.
    pub variables: BTreeMap<String, Variable<'a>>,
    /// Aliases: alias name → target variable name.
    pub aliases: BTreeMap<String, String>,
}

impl<'a> Ct2Model<'a> {
    /// Parses a complete `model.bin` held in memory. `file` labels error messages.
    pub fn parse(file: &str, bytes: &'a [u8]) -> Result<Self, ImportError> {
        let mut r = Reader {
            file,
            bytes,
            pos: 0,
        };
        let binary_version = r.u32("header: binary version")?;
        if binary_version != SUPPORTED_BINARY_VERSION {
            return Err(ImportError::UnsupportedVersion {
                file: file.to_owned(),
                found: binary_version,
                supported: SUPPORTED_BINARY_VERSION,
            });
        }
        let spec_name = r.string("header: spec name")?;
        let spec_revision = r.u32("header: spec revision")?;
        let n_variables = r.u32("header: variable count")?;

        let mut variables = BTreeMap::new();
        for index in 0..n_variables {
            let name = r.string(&format!("variable #{index}: name"))?;
            let field = |what: &str| format!("variable #{index} ({name}): {what}");
            let rank = r.u8(&field("rank"))?;
            let mut shape = Vec::with_capacity(usize::from(rank));
            for d in 0..rank {
                shape.push(r.u32(&field(&format!("shape[{d}]")))? as usize);
            }
            let dtype_at = r.pos;
            let dtype_id = r.u8(&field("dtype"))?;
            let dtype = DType::from_id(dtype_id).ok_or_else(|| {
                r.err_at(
                    dtype_at,
                    &field("dtype"),
                    format!("unknown dtype id {dtype_id}"),
                )
            })?;
            let n_bytes_at = r.pos;
            let n_bytes = r.u32(&field("byte count"))? as usize;
            let expected = shape
                .iter()
                .try_fold(dtype.size(), |acc, &d| acc.checked_mul(d));
            if expected != Some(n_bytes) {
                return Err(r.err_at(
                    n_bytes_at,
                    &field("byte count"),
                    format!(
                        "{n_bytes} bytes do not match shape {shape:?} of {dtype} ({} bytes)",
                        expected.map_or_else(|| "overflowing".to_owned(), |e| e.to_string())
                    ),
                ));
            }
            let data = r.take(n_bytes, &field("data"))?;
            let var = Variable { shape, dtype, data };
            if variables.insert(name.clone(), var).is_some() {
                return Err(r.err_at(
                    n_bytes_at,
                    &format!("variable #{index} ({name})"),
                    "duplicate variable name",
                ));
            }
        }

        let n_aliases = r.u32("alias count")?;
        let mut aliases = BTreeMap::new();
        for index in 0..n_aliases {
            let at = r.pos;
            let alias = r.string(&format!("alias #{index}: name"))?;
            let target = r.string(&format!("alias #{index} ({alias}): target"))?;
            let field = format!("alias #{index} ({alias} -> {target})");
            if variables.contains_key(&alias) || aliases.contains_key(&alias) {
                return Err(r.err_at(at, &field, "alias name is already used"));
            }
            if !variables.contains_key(&target) {
                return Err(r.err_at(at, &field, "alias target is not a variable"));
            }
            aliases.insert(alias, target);
        }
        if r.pos != bytes.len() {
            return Err(r.err_at(
                r.pos,
                "end of file",
                format!("{} unexpected trailing bytes", bytes.len() - r.pos),
            ));
        }

        Ok(Ct2Model {
            file: file.to_owned(),
            binary_version,
            spec_name,
            spec_revision,
            variables,
            aliases,
        })
    }

    /// Looks a variable up by name, resolving an alias to its target.
    pub fn get(&self, name: &str) -> Option<&Variable<'a>> {
        match self.aliases.get(name) {
            Some(target) => self.variables.get(target),
            None => self.variables.get(name),
        }
    }

    /// Whether `name` is a variable or an alias.
    pub fn contains(&self, name: &str) -> bool {
        self.variables.contains_key(name) || self.aliases.contains_key(name)
    }

    /// All names, variables and aliases, in sorted order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.variables
            .keys()
            .chain(self.aliases.keys())
            .map(String::as_str)
    }
}

struct Reader<'a, 'f> {
    file: &'f str,
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a, '_> {
    fn err_at(&self, offset: usize, field: &str, msg: impl Into<String>) -> ImportError {
        ImportError::Format {
            file: self.file.to_owned(),
            offset,
            field: field.to_owned(),
            msg: msg.into(),
        }
    }

    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], ImportError> {
        let end = self.pos.checked_add(n).filter(|&e| e <= self.bytes.len());
        match end {
            Some(end) => {
                let s = &self.bytes[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(self.err_at(
                self.pos,
                field,
                format!(
                    "file is truncated (need {n} bytes, {} left)",
                    self.bytes.len() - self.pos
                ),
            )),
        }
    }

    fn u8(&mut self, field: &str) -> Result<u8, ImportError> {
        Ok(self.take(1, field)?[0])
    }

    fn u16(&mut self, field: &str) -> Result<u16, ImportError> {
        let b = self.take(2, field)?;
        Ok(u16::from_le_bytes([b[0], b[1]]))
    }

    fn u32(&mut self, field: &str) -> Result<u32, ImportError> {
        let b = self.take(4, field)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    fn string(&mut self, field: &str) -> Result<String, ImportError> {
        let at = self.pos;
        let len = usize::from(self.u16(field)?);
        if len == 0 {
            return Err(self.err_at(at, field, "string length is 0 (it must count the NUL)"));
        }
        let raw = self.take(len, field)?;
        let (text, nul) = raw.split_at(len - 1);
        if nul != [0] {
            return Err(self.err_at(at, field, "string is not NUL-terminated"));
        }
        match std::str::from_utf8(text) {
            Ok(s) => Ok(s.to_owned()),
            Err(e) => Err(self.err_at(at, field, format!("string is not UTF-8: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{Ct2Writer, Data};

    fn sample() -> Vec<u8> {
        let mut w = Ct2Writer::new("WhisperSpec", 3);
        w.var(
            "a/weight",
            &[2, 3],
            Data::F16(vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]),
        );
        w.var("a/bias", &[2], Data::F32(vec![0.5, -0.5]));
        w.var("a/heads", &[], Data::I16(vec![6]));
        w.var("a/flag", &[], Data::I8(vec![-1]));
        w.alias("b/weight", "a/weight");
        w.finish()
    }

    #[test]
    fn parses_variables_scalars_and_aliases() {
        let bytes = sample();
        let m = Ct2Model::parse("model.bin", &bytes).expect("parse");
        assert_eq!(m.binary_version, 6);
        assert_eq!(m.spec_name, "WhisperSpec");
        assert_eq!(m.spec_revision, 3);
        assert_eq!(m.variables.len(), 4);
        let w = m.get("a/weight").expect("a/weight");
        assert_eq!(w.shape, vec![2, 3]);
        assert_eq!(w.dtype, DType::F16);
        assert_eq!((w.rows(), w.row_len(), w.numel()), (2, 3, 6));
        assert_eq!(w.get_f32(5), 6.0);
        assert_eq!(m.get("a/bias").map(|v| v.get_f32(1)), Some(-0.5));
        assert_eq!(m.get("a/heads").and_then(Variable::as_i64), Some(6));
        assert_eq!(m.get("a/flag").and_then(Variable::as_i64), Some(-1));
        // The alias resolves to the very same data.
        let b = m.get("b/weight").expect("alias");
        assert!(std::ptr::eq(b.data, w.data));
        assert!(m.contains("b/weight"));
        assert_eq!(m.names().count(), 5);
    }

    #[test]
    fn string_encoding_counts_the_nul() {
        let bytes = sample();
        // u32 version, then u16 len = 12 ("WhisperSpec" + NUL).
        assert_eq!(&bytes[4..6], &12u16.to_le_bytes());
        assert_eq!(&bytes[6..17], b"WhisperSpec");
        assert_eq!(bytes[17], 0);
    }

    #[test]
    fn rejects_other_binary_versions() {
        let mut bytes = sample();
        bytes[0..4].copy_from_slice(&5u32.to_le_bytes());
        let err = Ct2Model::parse("model.bin", &bytes).unwrap_err();
        assert!(matches!(
            err,
            ImportError::UnsupportedVersion { found: 5, .. }
        ));
        assert!(
            err.to_string()
                .contains("unsupported CTranslate2 binary version 5"),
            "{err}"
        );
    }

    #[test]
    fn rejects_truncation_everywhere() {
        let bytes = sample();
        for cut in 0..bytes.len() {
            let err = Ct2Model::parse("model.bin", &bytes[..cut]).unwrap_err();
            assert!(
                err.to_string().starts_with("model.bin: at byte "),
                "{cut}: {err}"
            );
        }
    }

    #[test]
    fn rejects_trailing_bytes_and_bad_strings() {
        let mut bytes = sample();
        bytes.push(0);
        let err = Ct2Model::parse("model.bin", &bytes).unwrap_err();
        assert!(
            err.to_string().contains("1 unexpected trailing bytes"),
            "{err}"
        );

        let mut bytes = sample();
        bytes[17] = b'x'; // the NUL after "WhisperSpec"
        let err = Ct2Model::parse("model.bin", &bytes).unwrap_err();
        assert!(
            err.to_string()
                .contains("header: spec name: string is not NUL-terminated"),
            "{err}"
        );
    }

    #[test]
    fn rejects_byte_count_mismatch_and_unknown_dtype() {
        let mut w = Ct2Writer::new("WhisperSpec", 3);
        w.raw_var("x", &[4], 4, &[0u8; 6]);
        let err = Ct2Model::parse("m", &w.finish()).unwrap_err();
        assert!(
            err.to_string()
                .contains("variable #0 (x): byte count: 6 bytes do not match"),
            "{err}"
        );

        let mut w = Ct2Writer::new("WhisperSpec", 3);
        w.raw_var("x", &[1], 9, &[0u8; 2]);
        let err = Ct2Model::parse("m", &w.finish()).unwrap_err();
        assert!(
            err.to_string()
                .contains("variable #0 (x): dtype: unknown dtype id 9"),
            "{err}"
        );
    }

    #[test]
    fn rejects_dangling_alias() {
        let mut w = Ct2Writer::new("WhisperSpec", 3);
        w.var("x", &[1], Data::F32(vec![1.0]));
        w.alias("y", "nope");
        let err = Ct2Model::parse("m", &w.finish()).unwrap_err();
        assert!(
            err.to_string().contains("alias target is not a variable"),
            "{err}"
        );
    }
}
