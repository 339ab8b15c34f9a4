//! CUDA graphs: a whole training step captured once and replayed, so that the GPU runs it
//! without a launch per kernel from the host. tch has no binding for them; libtorch's
//! `at::cuda::CUDAGraph` is reached through a small C++ library (`cuda/graphs.cpp`, built by
//! `scripts/build-cuda-graphs` against the venv's libtorch) that is loaded at run time, only
//! when CUDA is asked for. CPU runs never load it.

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::path::PathBuf;
use std::sync::OnceLock;

/// The library's file name.
pub const LIBRARY: &str = "libpixel_hnn_cuda_graphs.so";

struct Api {
    last_error: unsafe extern "C" fn() -> *const c_char,
    new: unsafe extern "C" fn(*mut *mut c_void) -> c_int,
    begin: unsafe extern "C" fn(*mut c_void) -> c_int,
    end: unsafe extern "C" fn(*mut c_void) -> c_int,
    replay: unsafe extern "C" fn(*mut c_void) -> c_int,
    synchronize: unsafe extern "C" fn() -> c_int,
    free: unsafe extern "C" fn(*mut c_void),
}

/// Where the library is looked for: `$PIXEL_HNN_CUDA_GRAPHS`, beside the binary, and in
/// `target/cuda-graphs/` next to the binary's build folder (where the script puts it).
pub fn candidates() -> Vec<PathBuf> {
    let mut out = vec![];
    if let Some(p) = std::env::var_os("PIXEL_HNN_CUDA_GRAPHS") {
        out.push(PathBuf::from(p));
    }
    if let Some(dir) = std::env::current_exe().ok().and_then(|e| e.parent().map(|d| d.to_path_buf())) {
        out.push(dir.join(LIBRARY));
        out.push(dir.join("lib").join(LIBRARY));
        if let Some(up) = dir.parent() {
            out.push(up.join("cuda-graphs").join(LIBRARY));
        }
    }
    out
}

fn load() -> Result<&'static Api, String> {
    static API: OnceLock<Result<Api, String>> = OnceLock::new();
    API.get_or_init(|| {
        let tried = candidates();
        let path = tried.iter().find(|p| p.exists()).ok_or_else(|| {
            format!(
                "{LIBRARY} not found (looked in {}); build it with scripts/build-cuda-graphs",
                tried.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")
            )
        })?;
        let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(|e| e.to_string())?;
        // SAFETY: dlopen of a library built for this libtorch; the handle is kept for the
        // process's life, so the function pointers below stay valid.
        let h = unsafe { libc::dlopen(c.as_ptr(), libc::RTLD_NOW | libc::RTLD_GLOBAL) };
        if h.is_null() {
            // SAFETY: dlerror returns a C string owned by the loader (or null).
            let why = unsafe { libc::dlerror() };
            let why = if why.is_null() { "unknown".into() } else { unsafe { CStr::from_ptr(why) }.to_string_lossy().into_owned() };
            return Err(format!("{} cannot be loaded: {why}", path.display()));
        }
        let sym = |name: &CStr| -> Result<*mut c_void, String> {
            // SAFETY: dlsym on the handle just opened.
            let p = unsafe { libc::dlsym(h, name.as_ptr()) };
            if p.is_null() {
                Err(format!("{} lacks {}", path.display(), name.to_string_lossy()))
            } else {
                Ok(p)
            }
        };
        // SAFETY: each symbol has the C signature declared in cuda/graphs.cpp.
        unsafe {
            Ok(Api {
                last_error: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> *const c_char>(sym(c"phnn_graph_last_error")?),
                new: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut *mut c_void) -> c_int>(sym(c"phnn_graph_new")?),
                begin: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void) -> c_int>(sym(c"phnn_graph_begin")?),
                end: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void) -> c_int>(sym(c"phnn_graph_end")?),
                replay: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void) -> c_int>(sym(c"phnn_graph_replay")?),
                synchronize: std::mem::transmute::<*mut c_void, unsafe extern "C" fn() -> c_int>(sym(c"phnn_device_synchronize")?),
                free: std::mem::transmute::<*mut c_void, unsafe extern "C" fn(*mut c_void)>(sym(c"phnn_graph_free")?),
            })
        }
    })
    .as_ref()
    .map_err(Clone::clone)
}

fn check(api: &Api, status: c_int, what: &str) -> Result<(), String> {
    if status == 0 {
        return Ok(());
    }
    // SAFETY: the library returns a valid, NUL-terminated thread-local string.
    let why = unsafe { CStr::from_ptr((api.last_error)()) }.to_string_lossy().into_owned();
    Err(format!("{what}: {why}"))
}

/// Whether the library can be loaded (it is looked for, and loaded, once).
pub fn available() -> Result<(), String> {
    load().map(|_| ())
}

/// Waits for all queued GPU work.
pub fn synchronize() -> Result<(), String> {
    let api = load()?;
    // SAFETY: no arguments; errors come back as a status.
    check(api, unsafe { (api.synchronize)() }, "synchronizing the GPU")
}

/// A captured CUDA graph.
pub struct Graph {
    api: &'static Api,
    handle: *mut c_void,
}

impl Graph {
    /// Captures what `record` queues on the GPU (nothing runs now: replays run it). Tensors
    /// it allocates live in the graph's memory pool and keep their addresses for replays.
    pub fn capture(record: impl FnOnce()) -> Result<Graph, String> {
        let api = load()?;
        let mut handle = std::ptr::null_mut();
        // SAFETY: out-pointer to a local; the handle is freed in Drop.
        check(api, unsafe { (api.new)(&mut handle) }, "creating a CUDA graph")?;
        let graph = Graph { api, handle };
        // SAFETY: a live handle.
        check(api, unsafe { (api.begin)(graph.handle) }, "beginning the capture")?;
        record();
        check(api, unsafe { (api.end)(graph.handle) }, "ending the capture")?;
        Ok(graph)
    }

    /// Runs the captured work again, on the current stream.
    pub fn replay(&self) -> Result<(), String> {
        // SAFETY: a live, captured handle.
        check(self.api, unsafe { (self.api.replay)(self.handle) }, "replaying the CUDA graph")
    }
}

impl Drop for Graph {
    fn drop(&mut self) {
        // SAFETY: the handle was created by phnn_graph_new and is freed once.
        unsafe { (self.api.free)(self.handle) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The library is built by scripts/build-cuda-graphs (scripts/test runs it first): this
    /// checks that it compiles against this libtorch, loads, and that a failure inside it
    /// (here: no GPU) comes back as a message rather than a crash.
    #[test]
    fn the_graphs_library_loads_and_reports_its_errors() {
        let lib = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/cuda-graphs").join(LIBRARY);
        assert!(lib.exists(), "{} is missing: run scripts/build-cuda-graphs (scripts/test does)", lib.display());
        // SAFETY: set before the library is first looked for, by the one test that does.
        unsafe { std::env::set_var("PIXEL_HNN_CUDA_GRAPHS", &lib) };
        available().unwrap();
        if !std::path::Path::new("/proc/driver/nvidia/version").exists() {
            let e = Graph::capture(|| {}).err().expect("no GPU here");
            assert!(e.starts_with("creating a CUDA graph: ") || e.starts_with("beginning the capture: "), "{e}");
            eprintln!("as expected without a GPU: {e}");
        }
    }
}
