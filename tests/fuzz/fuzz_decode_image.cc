// libFuzzer target: arbitrary bytes as an image file, decoded as gray and as RGB and resized. Decoding must either
// succeed or throw quac::Error; anything else (a crash, a sanitizer report, a hang, memory exhaustion) is a bug.
// Seeds: tests/data/fuzz_seeds/image (PNG, JPEG, BMP, PGM).
#include <cstddef>
#include <cstdint>
#include <string>

#include "eval/dataset_internal.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string bytes(reinterpret_cast<const char*>(data), size);
  for (int channels : {1, 3}) {
    try {
      quac::detail::Image image = quac::detail::decode_image(bytes, channels, "fuzz.img");
      quac::detail::resize_image(image, 7, 5);
    } catch (const quac::Error&) {
    }
  }
  return 0;
}
