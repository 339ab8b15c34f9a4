// Bake libtorch's folder into the binaries' rpath so that they run with no environment
// variables. LIBTORCH comes from .cargo/config.toml (the project venv's torch).
fn main() {
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    if let Ok(dir) = std::env::var("LIBTORCH") {
        let lib = std::path::Path::new(&dir).join("lib");
        let lib = lib.canonicalize().unwrap_or(lib);
        println!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display());
        println!("cargo:rustc-env=PIXEL_HNN_LIBTORCH_LIB={}", lib.display());
    }
}
