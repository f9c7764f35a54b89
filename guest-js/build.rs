//! The JS engine parses and runs on the wasm stack: give it 1 MiB instead of the 128 KiB the
//! workspace's other guests use (the later `-zstack-size` wins).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=1048576");
    }
}
