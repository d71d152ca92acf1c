// libFuzzer target: arbitrary bytes as an ONNX model. Loading must either succeed or throw quac::Error; anything
// else (a crash, a sanitizer report, another exception type, a hang) is a bug.
#include <cstddef>
#include <cstdint>
#include <string>

#include "ir/graph.h"
#include "ir/onnx/onnx_io.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto model = quac::onnx_io::load_model_bytes(bytes, "", "fuzz.onnx");
    // Round-trip what loaded: export must accept every model import accepted.
    std::string out = quac::onnx_io::serialize_model(*model);
    quac::onnx_io::load_model_bytes(out, "", "fuzz-roundtrip.onnx");
  } catch (const quac::Error&) {
  }
  return 0;
}
