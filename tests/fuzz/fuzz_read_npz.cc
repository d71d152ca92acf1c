// libFuzzer target: arbitrary bytes as a NumPy .npz archive. Reading must either succeed or throw quac::Error;
// anything else (a crash, a sanitizer report, another exception type, a hang, memory exhaustion) is a bug.
// Seeds: tests/data/fuzz_seeds/npz (written by numpy.savez and numpy.savez_compressed).
#include <cstddef>
#include <cstdint>
#include <string>

#include "eval/dataset_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  try {
    auto arrays = quac::detail::decode_npz(bytes, "fuzz.npz");
    for (const auto& [name, t] : arrays) (void)t.nbytes();
  } catch (const quac::Error&) {
  }
  return 0;
}
