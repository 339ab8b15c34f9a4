//! Where tensors live, and how many threads libtorch uses.
//!
//! The binary links libtorch's CPU library only (the linker drops `libtorch_cuda`, tch-rs
//! issue 980), which keeps CPU runs ~350 MB lighter. When CUDA is asked for, the CUDA part is
//! loaded at run time (`dlopen`), which registers its kernels, and libtorch then sees GPUs.

pub mod cuda_graphs;

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

impl crate::util::choice::Choice for DeviceChoice {
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

/// Whether a CUDA training step is captured as one CUDA graph ([`crate::runtime::cuda_graphs`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CudaGraphs {
    /// When the device is CUDA and the graphs library loads.
    Auto,
    On,
    Off,
}

impl crate::util::choice::Choice for CudaGraphs {
    const ALL: &'static [Self] = &[CudaGraphs::Auto, CudaGraphs::On, CudaGraphs::Off];

    fn name(self) -> &'static str {
        match self {
            CudaGraphs::Auto => "auto",
            CudaGraphs::On => "on",
            CudaGraphs::Off => "off",
        }
    }

    fn help(self) -> &'static str {
        match self {
            CudaGraphs::Auto => "on a GPU, when the graphs library (scripts/build-cuda-graphs) is there",
            CudaGraphs::On => "always on a GPU (an error if the library is missing)",
            CudaGraphs::Off => "every kernel launched from the host",
        }
    }
}

impl CudaGraphs {
    /// Whether graphs are used on `device`.
    pub fn resolve(self, device: Device) -> Result<bool> {
        let gpu = device != Device::Cpu;
        match self {
            CudaGraphs::Off => Ok(false),
            CudaGraphs::Auto => Ok(gpu && crate::runtime::cuda_graphs::available().is_ok()),
            CudaGraphs::On if !gpu => Err(Error::setting("--cuda-graphs", "on needs --device cuda")),
            CudaGraphs::On => crate::runtime::cuda_graphs::available().map(|_| true).map_err(|e| Error::setting("--cuda-graphs", e)),
        }
    }
}

/// Where and how a command computes: the device, `--threads` (CPU worker threads; `None`:
/// chosen by measurement), and whether a GPU step is one CUDA graph.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Runtime {
    pub device: Device,
    pub threads: Option<usize>,
    pub cuda_graphs: bool,
}

impl Runtime {
    /// The runtime a command's `--device`, `--threads` and `--cuda-graphs` ask for: the
    /// device resolved (refused, naming the flag, where it is missing) and graphs decided.
    pub fn new(device: DeviceChoice, threads: Option<usize>, cuda_graphs: CudaGraphs) -> Result<Self> {
        let device = resolve(device)?;
        Ok(Runtime { device, threads, cuda_graphs: cuda_graphs.resolve(device)? })
    }

    pub fn cpu(threads: Option<usize>) -> Self {
        Runtime { device: Device::Cpu, threads, cuda_graphs: false }
    }

    /// A line for the user: `cpu with up to 2 threads`, `cuda:0 (CUDA graphs)`.
    pub fn describe(&self) -> Result<String> {
        Ok(match self.device {
            Device::Cpu => {
                let n = threads(self.threads)?;
                if self.threads.is_some() || n == 1 {
                    format!("cpu with {n} thread(s)")
                } else {
                    format!("cpu with up to {n} threads")
                }
            }
            d => format!("{}{}", describe(d), if self.cuda_graphs { " (one CUDA graph a step)" } else { "" }),
        })
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
/// On this 2-core machine 2 threads beat 1 on a training step (see docs/performance.md).
pub fn threads(requested: Option<usize>) -> Result<usize> {
    match requested {
        Some(0) => Err(Error::setting("--threads", "must be at least 1")),
        Some(n) => Ok(n),
        None => Ok(std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)),
    }
}

/// Flushes denormal floats to zero on the calling thread (x86-64: MXCSR's FTZ and DAZ
/// bits; elsewhere nothing). As training converges some gradients and Adam moments fall
/// below 1.2e-38, where every operation on them takes a slow microcode path: without this
/// a CPU step slows from 9 to 33 ms by step 3,000 here. Values that small are zero for any
/// purpose of the model (PyTorch offers the same switch, `torch.set_flush_denormal`).
pub fn flush_denormals() {
    #[cfg(target_arch = "x86_64")]
    #[allow(deprecated)] // `_mm_setcsr` is deprecated in favour of inline assembly, same effect
    // SAFETY: sets two control bits of the calling thread's SSE control register; no memory
    // is touched.
    unsafe {
        use std::arch::x86_64::{_mm_getcsr, _mm_setcsr};
        const FTZ: u32 = 1 << 15;
        const DAZ: u32 = 1 << 6;
        _mm_setcsr(_mm_getcsr() | FTZ | DAZ);
    }
}

/// Gives libtorch `n` intra-op threads (for the calling thread: OpenMP's setting is per
/// thread).
pub fn set_libtorch_threads(n: usize) {
    tch::set_num_threads(n as i32);
}

/// How many worker threads a CPU computation uses. `--threads N` fixes N. By default the
/// choice between all cores and one is measured while training runs: the first
/// [`PROBE_STEPS`] steps on all cores, as many on one, then the faster goes on (the other
/// must be 5% faster to take over: step times are noisy), and every [`PROBE_PERIOD`] steps
/// the other count is measured again. Results do not depend on it
/// (the work is split the same way whatever the count), so it may change at any step; it
/// keeps a loaded machine (another process busy on a core) from training slower than one
/// thread would.
pub struct ThreadChoice {
    /// Candidate thread counts with their pools (workers hold libtorch to one thread each).
    pools: Vec<(usize, rayon::ThreadPool)>,
    current: usize,
    /// The candidate being measured instead of `current`, if any.
    probing: Option<usize>,
    /// Steps since the last decision.
    since: usize,
    /// Whether the first decision has been made.
    decided: bool,
    /// The latest step times (seconds) of each candidate, at most [`PROBE_STEPS`].
    times: Vec<Vec<f64>>,
}

/// Steps between measurements of the other thread count.
pub const PROBE_PERIOD: usize = 200;
/// Steps per measurement.
pub const PROBE_STEPS: usize = 8;

fn pool(n: usize) -> rayon::ThreadPool {
    rayon::ThreadPoolBuilder::new()
        .num_threads(n)
        .thread_name(|i| format!("pixel-hnn-worker-{i}"))
        .start_handler(|_| {
            set_libtorch_threads(1);
            flush_denormals();
        })
        .build()
        .expect("worker threads start")
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s[s.len() / 2]
}

impl ThreadChoice {
    fn of(counts: &[usize]) -> Self {
        ThreadChoice {
            pools: counts.iter().map(|&n| (n, pool(n))).collect(),
            current: 0,
            probing: None,
            since: 0,
            decided: false,
            times: vec![vec![]; counts.len()],
        }
    }

    /// Exactly `n` worker threads.
    pub fn fixed(n: usize) -> Self {
        ThreadChoice::of(&[n])
    }

    /// `--threads` given: fixed; not given: all cores or one, chosen by measurement.
    pub fn from_flag(requested: Option<usize>) -> Result<Self> {
        let n = threads(requested)?;
        Ok(if requested.is_some() || n == 1 { ThreadChoice::fixed(n) } else { ThreadChoice::of(&[n, 1]) })
    }

    fn in_use(&self) -> usize {
        self.probing.unwrap_or(self.current)
    }

    /// The thread count in use now.
    pub fn current(&self) -> usize {
        self.pools[self.in_use()].0
    }

    /// Runs `f` on the worker threads in use now (rayon's parallel iterators inside it use
    /// them).
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> R {
        self.pools[self.in_use()].1.install(f)
    }

    /// Records a step's wall time and decides which count the next step uses.
    pub fn observe(&mut self, elapsed: std::time::Duration) {
        if self.pools.len() < 2 {
            return;
        }
        let who = self.in_use();
        let times = &mut self.times[who];
        times.push(elapsed.as_secs_f64());
        if times.len() > PROBE_STEPS {
            times.remove(0);
        }
        self.since += 1;
        let other = 1 - self.current;
        match self.probing {
            Some(p) if self.times[p].len() >= PROBE_STEPS => {
                if median(&self.times[p]) < 0.95 * median(&self.times[self.current]) {
                    self.current = p;
                }
                self.probing = None;
                self.decided = true;
                self.since = 0;
                let dropped = 1 - self.current;
                self.times[dropped].clear();
            }
            None if self.times[self.current].len() >= PROBE_STEPS && (!self.decided || self.since >= PROBE_PERIOD) => {
                self.probing = Some(other);
                self.since = 0;
            }
            _ => {}
        }
    }
}

/// Memory free for a computation on `device`, in bytes, where it can be read: the kernel's
/// `MemAvailable` for the CPU, `cudaMemGetInfo` for a GPU.
pub fn available_memory(device: Device) -> Option<u64> {
    match device {
        Device::Cpu => {
            let info = std::fs::read_to_string("/proc/meminfo").ok()?;
            let line = info.lines().find(|l| l.starts_with("MemAvailable:"))?;
            Some(line.split_whitespace().nth(1)?.parse::<u64>().ok()? * 1024)
        }
        Device::Cuda(_) => {
            let name = c"cudaMemGetInfo";
            // SAFETY: cudaMemGetInfo(size_t*, size_t*) is the CUDA runtime's, loaded with
            // libtorch_cuda; both pointers are valid for writes.
            unsafe {
                let f = libc::dlsym(libc::RTLD_DEFAULT, name.as_ptr());
                if f.is_null() {
                    return None;
                }
                let get: extern "C" fn(*mut usize, *mut usize) -> libc::c_int = std::mem::transmute(f);
                let (mut free, mut total) = (0usize, 0usize);
                (get(&mut free, &mut total) == 0).then_some(free as u64)
            }
        }
        _ => None,
    }
}

pub fn describe(d: Device) -> String {
    match d {
        Device::Cpu => "cpu".into(),
        Device::Cuda(i) => format!("cuda:{i}"),
        other => format!("{other:?}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn workers_flush_denormals_to_zero() {
        // Half the smallest normal float is a denormal; with FTZ it becomes 0.
        let half_smallest = || std::hint::black_box(f32::MIN_POSITIVE) * std::hint::black_box(0.5f32);
        let fresh = std::thread::spawn(half_smallest).join().unwrap();
        assert!(fresh > 0.0, "a thread starts with denormals on");
        let on_worker = pool(2).install(|| rayon::join(half_smallest, half_smallest));
        assert_eq!(on_worker, (0.0, 0.0));
        let after = std::thread::spawn(move || {
            flush_denormals();
            half_smallest()
        });
        assert_eq!(after.join().unwrap(), 0.0);
    }

    #[test]
    fn the_faster_thread_count_is_chosen_and_checked_again_later() {
        // What `from_flag(None)` builds on a machine of 4 cores, whatever this one has.
        let mut c = ThreadChoice::of(&[4, 1]);
        let all = 4;
        assert_eq!(c.current(), all, "all cores first");
        let run = |c: &mut ThreadChoice, steps: usize, ms_all: u64, ms_one: u64| -> Vec<usize> {
            (0..steps)
                .map(|_| {
                    let used = c.current();
                    c.observe(Duration::from_millis(if used == 1 { ms_one } else { ms_all }));
                    used
                })
                .collect()
        };
        // A loaded machine: all cores take 10 ms a step, one core 5 ms. After the first
        // measurement one core is used, except for the periodic checks.
        let used = run(&mut c, 3 * PROBE_PERIOD, 10, 5);
        let late = &used[2 * PROBE_STEPS..];
        let on_one = late.iter().filter(|&&n| n == 1).count();
        assert!(on_one as f64 > 0.95 * late.len() as f64, "{on_one} of {} steps on one thread", late.len());
        // The load goes away: all cores take 3 ms. The next check finds it.
        let used = run(&mut c, 3 * PROBE_PERIOD, 3, 5);
        let late = &used[PROBE_PERIOD + PROBE_STEPS..];
        let on_all = late.iter().filter(|&&n| n == all).count();
        assert!(on_all as f64 > 0.95 * late.len() as f64, "{on_all} of {} steps on all cores", late.len());
        assert_eq!(ThreadChoice::from_flag(Some(1)).unwrap().pools.len(), 1, "--threads fixes the count");
    }

    #[test]
    fn the_first_measurement_decides_and_a_small_gain_does_not_switch() {
        let mut c = ThreadChoice::of(&[4, 1]);
        let mut used = vec![];
        let step = |c: &mut ThreadChoice, used: &mut Vec<usize>, ms_all: u64, ms_one: u64| {
            let n = c.current();
            used.push(n);
            c.observe(Duration::from_millis(if n == 1 { ms_one } else { ms_all }));
        };
        // One core 3% faster: below the 5% needed to take over.
        for _ in 0..2 * PROBE_STEPS + 10 {
            step(&mut c, &mut used, 100, 97);
        }
        // All cores for PROBE_STEPS steps, one core for as many, then back to all.
        let expect: Vec<usize> = [vec![4; PROBE_STEPS], vec![1; PROBE_STEPS], vec![4; 10]].concat();
        assert_eq!(used, expect);
        // The next check comes PROBE_PERIOD steps after that decision, not before.
        used.clear();
        for _ in 0..PROBE_PERIOD + PROBE_STEPS {
            step(&mut c, &mut used, 100, 50);
        }
        let first_one = used.iter().position(|&n| n == 1).expect("checked again");
        assert_eq!(first_one, PROBE_PERIOD - 10, "{used:?}");
        assert_eq!(c.current(), 1, "one core, now 2x faster, took over");
    }

    #[test]
    fn the_thread_count_rule() {
        assert!(threads(Some(0)).unwrap_err().to_string().starts_with("--threads"));
        assert_eq!(threads(Some(3)).unwrap(), 3);
        let cores = std::thread::available_parallelism().unwrap().get();
        assert_eq!(threads(None).unwrap(), cores, "all cores when not told");
        let fixed = ThreadChoice::from_flag(Some(3)).unwrap();
        assert_eq!((fixed.pools.len(), fixed.current()), (1, 3));
        let told_nothing = ThreadChoice::from_flag(None).unwrap();
        let counts: Vec<usize> = told_nothing.pools.iter().map(|p| p.0).collect();
        assert_eq!(counts, if cores == 1 { vec![1] } else { vec![cores, 1] }, "all cores or one, measured");
        // A fixed count never changes, however slow its steps.
        let mut one = ThreadChoice::fixed(2);
        for ms in [1, 1000, 1, 1000].repeat(10) {
            one.observe(Duration::from_millis(ms));
        }
        assert_eq!(one.current(), 2);
        assert_eq!(Runtime::cpu(Some(2)).describe().unwrap(), "cpu with 2 thread(s)");
    }
}
