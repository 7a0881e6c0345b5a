//! Links libespeak-ng (Debian: `libespeak-ng-dev`, installed by
//! `scripts/setup.sh`). The bindings in `src/ffi.rs` are written by hand
//! against `/usr/include/espeak-ng/speak_lib.h` (API revision 12).

fn main() {
    // `ESPEAK_NG_LIB_DIR` points at a non-system build of the library.
    println!("cargo:rerun-if-env-changed=ESPEAK_NG_LIB_DIR");
    if let Ok(dir) = std::env::var("ESPEAK_NG_LIB_DIR") {
        println!("cargo:rustc-link-search=native={dir}");
    }
    println!("cargo:rustc-link-lib=dylib=espeak-ng");
}
