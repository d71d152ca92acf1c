// Image decoding and resizing with stb (Debian's libstb-dev headers, compiled here with quac's own limits).
#include <limits>

#include "eval/dataset_internal.h"

// Only the formats quac documents, a dimension cap well under stb's own, and static linkage so the symbols cannot
// clash with another copy of stb in the process.
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_STATIC
#define STBI_NO_STDIO
#define STBI_ONLY_PNG
#define STBI_ONLY_JPEG
#define STBI_ONLY_BMP
#define STBI_ONLY_PNM
#define STBI_MAX_DIMENSIONS (1 << 15)
#define STB_IMAGE_RESIZE_IMPLEMENTATION
#define STB_IMAGE_RESIZE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#include <stb/stb_image.h>
#include <stb/stb_image_resize.h>
#pragma GCC diagnostic pop

namespace quac::detail {
namespace {
// Decoded images above this many pixels are refused before decoding (a hostile header can claim 32768 x 32768).
constexpr int64_t kMaxPixels = int64_t{1} << 26;

struct StbFree {
  void operator()(unsigned char* p) const { stbi_image_free(p); }
};
}  // namespace

Image decode_image(const std::string& bytes, int channels, const std::string& label) {
  QUAC_CHECK(channels == 1 || channels == 3, kInvalidArgument, label, ": channels must be 1 or 3");
  QUAC_CHECK(bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), kDatasetError, label,
             ": file too large");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  int len = static_cast<int>(bytes.size());
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &c))
    QUAC_THROW(kDatasetError, label, ": not a readable PNG, JPEG, BMP or PGM/PPM image (", stbi_failure_reason(), ")");
  QUAC_CHECK(w > 0 && h > 0 && int64_t{w} * h <= kMaxPixels, kDatasetError, label, ": image of ", w, "x", h,
             " pixels is over the limit of ", kMaxPixels, " pixels");
  int dw = 0, dh = 0, dc = 0;
  std::unique_ptr<unsigned char, StbFree> pixels(stbi_load_from_memory(data, len, &dw, &dh, &dc, channels));
  if (!pixels) QUAC_THROW(kDatasetError, label, ": corrupt image (", stbi_failure_reason(), ")");
  QUAC_CHECK(dw == w && dh == h, kDatasetError, label, ": corrupt image (header and data disagree on the size)");
  Image image;
  image.width = w;
  image.height = h;
  image.channels = channels;
  image.pixels.assign(pixels.get(), pixels.get() + static_cast<size_t>(w) * h * channels);
  return image;
}

Image resize_image(const Image& image, int height, int width) {
  if (image.height == height && image.width == width) return image;
  QUAC_CHECK(height > 0 && width > 0 && int64_t{height} * width <= kMaxPixels, kInvalidArgument, "resize to ", height,
             "x", width, " is over the limit of ", kMaxPixels, " pixels");
  Image out;
  out.width = width;
  out.height = height;
  out.channels = image.channels;
  out.pixels.resize(static_cast<size_t>(width) * height * image.channels);
  int ok = stbir_resize_uint8_generic(image.pixels.data(), image.width, image.height, 0, out.pixels.data(), width,
                                      height, 0, image.channels, STBIR_ALPHA_CHANNEL_NONE, 0, STBIR_EDGE_CLAMP,
                                      STBIR_FILTER_TRIANGLE, STBIR_COLORSPACE_LINEAR, nullptr);
  QUAC_CHECK(ok, kInternal, "stb could not resize a ", image.width, "x", image.height, " image to ", width, "x",
             height);
  return out;
}

}  // namespace quac::detail
