//! Converts a CTranslate2 Whisper model directory into a whisper.cpp ggml file.
//!
//! Usage: `cargo run --release -p voicegate-model-import --example import_ct2 -- <ct2-dir> <out.bin>`
//!
//! Prints one JSON line with the import report on stdout.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use voicegate_model_import::{import_ct2, Stage};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [dir, out] = args.as_slice() else {
        eprintln!("usage: import_ct2 <ct2-model-dir> <out.bin>");
        return ExitCode::from(2);
    };
    let (dir, out) = (PathBuf::from(dir), PathBuf::from(out));
    let start = Instant::now();
    let mut last_shown = usize::MAX;
    let result = import_ct2(&dir, &out, &mut |p| {
        if p.stage == Stage::Writing && p.tensors_total > 0 {
            let pct = p.tensors_done * 100 / p.tensors_total;
            if pct / 10 != last_shown / 10 || p.tensors_done == p.tensors_total {
                last_shown = pct;
                eprint!(
                    "\rwriting tensors: {}/{} ({pct}%)",
                    p.tensors_done, p.tensors_total
                );
                let _ = std::io::stderr().flush();
            }
        } else if p.stage == Stage::Finishing {
            eprintln!();
        }
    });
    match result {
        Ok(report) => {
            eprintln!(
                "wrote {} ({} tensors, {} bytes) in {:.2} s\nsha256 {}",
                out.display(),
                report.tensor_count,
                report.bytes_written,
                start.elapsed().as_secs_f64(),
                report.sha256
            );
            match serde_json::to_string(&report) {
                Ok(json) => println!("{json}"),
                Err(e) => eprintln!("cannot serialise the report: {e}"),
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!();
            let mut msg = format!("error: {e}");
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                msg.push_str(&format!(": {s}"));
                source = s.source();
            }
            eprintln!("{msg}");
            ExitCode::FAILURE
        }
    }
}
