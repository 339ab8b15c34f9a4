// CUDA graphs for pixel-hnn: a C surface over libtorch's at::cuda::CUDAGraph, which tch does
// not bind. Built against the project venv's libtorch by scripts/build-cuda-graphs and loaded
// by the binary at run time, only when CUDA is asked for (src/runtime/cuda_graphs.rs).
//
// Capture happens on a side stream (as torch.cuda.graph does); replay runs on the current
// stream. Every function returns 0 on success; on failure it returns 1 and the reason is
// available from phnn_graph_last_error() until the next call on the same thread.
#include <ATen/cuda/CUDAGraph.h>
#include <c10/cuda/CUDAFunctions.h>
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>

#include <exception>
#include <optional>
#include <string>

namespace {

thread_local std::string last_error;

struct Capture {
  at::cuda::CUDAGraph graph;
  std::optional<c10::cuda::CUDAStreamGuard> on_side_stream;
};

template <typename F>
int guarded(F f) {
  try {
    f();
    last_error.clear();
    return 0;
  } catch (const std::exception& e) {
    last_error = e.what();
  } catch (...) {
    last_error = "unknown C++ exception";
  }
  return 1;
}

}  // namespace

extern "C" {

const char* phnn_graph_last_error() { return last_error.c_str(); }

int phnn_graph_new(void** out) {
  return guarded([&] { *out = new Capture(); });
}

int phnn_graph_begin(void* handle) {
  return guarded([&] {
    auto* c = static_cast<Capture*>(handle);
    // Work queued on the current stream must finish before the side stream captures.
    c10::cuda::device_synchronize();
    c->on_side_stream.emplace(c10::cuda::getStreamFromPool());
    c->graph.capture_begin();
  });
}

int phnn_graph_end(void* handle) {
  return guarded([&] {
    auto* c = static_cast<Capture*>(handle);
    c->graph.capture_end();
    c->on_side_stream.reset();
  });
}

int phnn_graph_replay(void* handle) {
  return guarded([&] { static_cast<Capture*>(handle)->graph.replay(); });
}

int phnn_device_synchronize() {
  return guarded([] { c10::cuda::device_synchronize(); });
}

void phnn_graph_free(void* handle) { delete static_cast<Capture*>(handle); }

}  // extern "C"
