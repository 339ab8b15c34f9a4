//! Where tensors live, and how many threads libtorch uses.
//!
//! The binary links libtorch's CPU library only (the linker drops `libtorch_cuda`, tch-rs
//! issue 980), which keeps CPU runs ~350 MB lighter. When CUDA is asked for, the CUDA part is
//! loaded at run time (`dlopen`), which registers its kernels, and libtorch then sees GPUs.

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
}

/// True when an NVIDIA driver is installed (checked without loading CUDA).
fn driver_present() -> bool {
    std::path::Path::new("/proc/driver/nvidia/version").exists() || dlopen_ok("libcuda.so.1", false)
}

fn dlopen_ok(name: &str, global: bool) -> bool {
    let c = std::ffi::CString::new(name).expect("no NUL");
    let flags = libc::RTLD_NOW | if global { libc::RTLD_GLOBAL } else { libc::RTLD_LOCAL };
    // SAFETY: dlopen with a valid C string; the handle is deliberately never closed.
    !unsafe { libc::dlopen(c.as_ptr(), flags) }.is_null()
}

/// Loads `libtorch_cuda.so` from the library path or the libtorch this binary was built
/// against. Returns whether it is loaded.
fn load_torch_cuda() -> bool {
    if dlopen_ok("libtorch_cuda.so", true) {
        return true;
    }
    match option_env!("PIXEL_HNN_LIBTORCH_LIB") {
        Some(dir) => dlopen_ok(&format!("{dir}/libtorch_cuda.so"), true),
        None => false,
    }
}

pub fn resolve(choice: DeviceChoice) -> Result<Device> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Cuda => {
            if !driver_present() {
                return Err(Error::setting("--device", "cuda asked for, but this machine has no NVIDIA driver; use --device cpu"));
            }
            if !load_torch_cuda() {
                return Err(Error::setting("--device", "cuda asked for, but libtorch_cuda.so could not be loaded (set LD_LIBRARY_PATH to torch's lib folder)"));
            }
            if !tch::Cuda::is_available() {
                return Err(Error::setting("--device", "cuda asked for, but libtorch sees no CUDA device; use --device cpu"));
            }
            Ok(Device::Cuda(0))
        }
        DeviceChoice::Auto => {
            if driver_present() && load_torch_cuda() && tch::Cuda::is_available() {
                Ok(Device::Cuda(0))
            } else {
                Ok(Device::Cpu)
            }
        }
    }
}

/// Sets libtorch's intra-op threads. `None` keeps `default_threads()`.
pub fn set_threads(threads: Option<usize>) -> Result<usize> {
    let n = match threads {
        Some(0) => return Err(Error::setting("--threads", "must be at least 1")),
        Some(n) => n,
        None => default_threads(),
    };
    tch::set_num_threads(n as i32);
    Ok(n)
}

/// libtorch threads when not told: all cores. On this 2-core machine 2 threads beat 1 on
/// a training step (see README "Figures"); `--threads` overrides.
pub fn default_threads() -> usize {
    std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
}

pub fn describe(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}
