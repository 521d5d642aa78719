// Declares `cfg(fuzzing)` (set by cargo-fuzz) so check-cfg knows it. Under
// `cfg(fuzzing)` the validator ignores the signature's result (STYLE 11).
fn main() {
    println!("cargo::rustc-check-cfg=cfg(fuzzing)");
}
