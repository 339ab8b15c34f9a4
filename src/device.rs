//! Where tensors live, and how many threads libtorch uses.
//!
//! The binary links libtorch's CPU library only (the linker drops `libtorch_cuda`, tch-rs
//! issue 980), which keeps CPU runs ~350 MB lighter. When CUDA is asked for, the CUDA part is
//! loaded at run time (`dlopen`), which registers its kernels, and libtorch then sees GPUs.

use serde::{Deserialize, Serialize};
use tch::Device;

use crate::error::{Error, Result};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    Cpu,
    Cuda,
    /// CUDA when libtorch sees a GPU, else CPU.
    Auto,
}

impl crate::choice::Choice for DeviceChoice {
    const ALL: &'static [Self] = &[DeviceChoice::Cpu, DeviceChoice::Cuda, DeviceChoice::Auto];

    fn name(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "cpu",
            DeviceChoice::Cuda => "cuda",
            DeviceChoice::Auto => "auto",
        }
    }

    fn help(self) -> &'static str {
        match self {
            DeviceChoice::Cpu => "the CPU",
            DeviceChoice::Cuda => "the first CUDA GPU (error if there is none)",
            DeviceChoice::Auto => "CUDA when libtorch sees a GPU, else the CPU",
        }
    }
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
                return Err(Error::setting(
                    "--device",
                    "cuda asked for, but libtorch_cuda.so could not be loaded (set LD_LIBRARY_PATH to torch's lib folder)",
                ));
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

/// The one rule for a thread count: `--threads N` (at least 1), or all cores when not told.
/// On this 2-core machine 2 threads beat 1 on a training step (see README "Figures").
pub fn threads(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(Error::setting("--threads", "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
    }
}

/// Resolves `--threads` and gives libtorch that many intra-op threads.
pub fn set_threads(requested: Option<usize>) -> Result<usize> {
    let n = threads(requested)?;
    set_libtorch_threads(n);
    Ok(n)
}

/// Gives libtorch `n` intra-op threads (for the calling thread: OpenMP's setting is per
/// thread).
pub fn set_libtorch_threads(n: usize) {
    tch::set_num_threads(n as i32);
}

pub fn describe(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}
