// libFuzzer target: arbitrary bytes as a labels file, read as JSON (first byte odd) or as text lines. Parsing must
// either succeed or throw quac::Error; anything else is a bug. Annotation .npy references point into a folder that
// does not exist, so they fail cleanly. Seeds: tests/data/fuzz_seeds/labels.
#include <cstddef>
#include <cstdint>
#include <string>

#include "eval/dataset_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    quac::detail::parse_labels(text, data[0] % 2 ? "/nonexistent/fuzz.json" : "/nonexistent/fuzz.txt");
  } catch (const quac::Error&) {
  }
  return 0;
}
