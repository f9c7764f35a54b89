//! The JS engine parses and runs on the wasm stack: give it 1 MiB instead of the 128 KiB the
//! workspace's other guests use (the later `-zstack-size` wins). On wasm32-unknown-unknown,
//! QuickJS's clock import is defined inside the module (csrc/clock.c).
fn main() {
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("wasm32") {
        println!("cargo:rustc-link-arg=-zstack-size=1048576");
    }
    if target == "wasm32-unknown-unknown" {
        println!("cargo:rerun-if-changed=csrc/clock.c");
        cc::Build::new()
            .file("csrc/clock.c")
            .compile("durable_clock");
    }
}
