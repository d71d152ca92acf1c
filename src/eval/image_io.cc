// Image decoding and resizing with stb (Debian's libstb-dev headers, compiled here with quac's own limits).
#include <algorithm>
#include <cstdlib>
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
// Zeroed allocations: stb's PNM reader does not check that the file held every pixel, so a truncated file would
// otherwise leave uninitialised memory in the image.
#define STBI_MALLOC(size) calloc(1, size)
#define STBI_REALLOC(p, size) realloc(p, size)
#define STBI_FREE(p) free(p)
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

// Debian's stb_image (2.27) trusts the symbol counts of a JPEG Huffman table (DHT segment): counts summing to more
// than 256 write past its tables (tests/fuzz/fuzz_decode_image found it; the input is kept as
// tests/data/fuzz_seeds/image/crash_dht_counts.jpg). This walks the file's segments the way stb does (markers, fill
// bytes, segment lengths, entropy-coded data up to the next marker) and refuses such a table before stb sees it.
// Every DHT segment stb would read is visited here; bytes beyond the end read as 0, as stb's reader returns.
bool jpeg_huffman_tables_fit(const std::string& bytes) {
  size_t n = bytes.size();
  auto at = [&](size_t i) -> unsigned { return i < n ? static_cast<unsigned char>(bytes[i]) : 0u; };
  if (at(0) != 0xFF) return true;  // stb tries JPEG only on files starting with a marker (fill bytes allowed)
  size_t p = 0;
  while (p < n) {
    if (at(p) != 0xFF) {  // stray bytes between segments: stb skips them too
      ++p;
      continue;
    }
    while (p < n && at(p) == 0xFF) ++p;  // fill bytes
    unsigned marker = at(p++);
    bool standalone = marker == 0x00 || marker == 0x01 || (marker >= 0xD0 && marker <= 0xD9);
    if (standalone) continue;
    size_t length = (at(p) << 8) | at(p + 1);
    if (marker == 0xC4) {
      // stb's loop: tables follow each other while the segment's remaining length is positive.
      int64_t remaining = static_cast<int64_t>(length) - 2;
      size_t q = p + 2;
      while (remaining > 0 && q < n) {
        ++q;  // table class and id
        unsigned symbols = 0;
        for (int i = 0; i < 16; ++i) symbols += at(q++);
        if (symbols > 256) return false;
        q += symbols;
        remaining -= 17 + static_cast<int64_t>(symbols);
      }
    }
    p += std::max<size_t>(length, 2);
    if (marker == 0xDA) {
      // Entropy-coded data: FF 00 is a stuffed byte and FF D0..D7 a restart; any other FF xx is the next marker.
      while (p < n) {
        if (at(p) != 0xFF) {
          ++p;
          continue;
        }
        size_t q = p + 1;
        while (q < n && at(q) == 0xFF) ++q;
        unsigned c = at(q);
        if (q < n && (c == 0x00 || (c >= 0xD0 && c <= 0xD7))) {
          p = q + 1;
          continue;
        }
        break;
      }
    }
  }
  return true;
}
}  // namespace

Image decode_image(const std::string& bytes, int channels, const std::string& label) {
  QUAC_CHECK(channels == 1 || channels == 3, kInvalidArgument, label, ": channels must be 1 or 3");
  QUAC_CHECK(bytes.size() <= static_cast<size_t>(std::numeric_limits<int>::max()), kDatasetError, label,
             ": file too large");
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  int len = static_cast<int>(bytes.size());
  QUAC_CHECK(jpeg_huffman_tables_fit(bytes), kDatasetError, label,
             ": corrupt JPEG (a Huffman table declares more than 256 symbols)");
  // PGM/PPM pixels are stored uncompressed: a file too short for the size its header claims is refused before stb
  // allocates (and spends time on) the claimed size.
  bool pnm = bytes.size() >= 2 && bytes[0] == 'P' && (bytes[1] == '5' || bytes[1] == '6');
  int w = 0, h = 0, c = 0;
  if (!stbi_info_from_memory(data, len, &w, &h, &c))
    QUAC_THROW(kDatasetError, label, ": not a readable PNG, JPEG, BMP or PGM/PPM image (", stbi_failure_reason(), ")");
  QUAC_CHECK(w > 0 && h > 0 && int64_t{w} * h <= kMaxPixels, kDatasetError, label, ": image of ", w, "x", h,
             " pixels is over the limit of ", kMaxPixels, " pixels");
  QUAC_CHECK(!pnm || static_cast<int64_t>(bytes.size()) >= int64_t{w} * h * c, kDatasetError, label,
             ": truncated PGM/PPM (", bytes.size(), " bytes for ", w, "x", h, " pixels)");
  // Decoded in the file's own channels and converted here: stb 2.27's converter mishandles 16-bit PNM files (it
  // converts them as 8-bit data and overruns; crash_pnm16_channels.pgm in tests/data/fuzz_seeds/image).
  int dw = 0, dh = 0, dc = 0;
  std::unique_ptr<unsigned char, StbFree> pixels(stbi_load_from_memory(data, len, &dw, &dh, &dc, 0));
  if (!pixels) QUAC_THROW(kDatasetError, label, ": corrupt image (", stbi_failure_reason(), ")");
  QUAC_CHECK(dw == w && dh == h && dc >= 1 && dc <= 4, kDatasetError, label,
             ": corrupt image (header and data disagree)");
  Image image;
  image.width = w;
  image.height = h;
  image.channels = channels;
  size_t count = static_cast<size_t>(w) * static_cast<size_t>(h);
  image.pixels.resize(count * static_cast<size_t>(channels));
  const unsigned char* src = pixels.get();
  for (size_t i = 0; i < count; ++i, src += dc) {
    bool colour = dc >= 3;  // 1 gray, 2 gray + alpha, 3 RGB, 4 RGBA; alpha is dropped
    if (channels == 1) {
      // ITU-R BT.601 luma in integers, as stb computes it.
      image.pixels[i] = colour ? static_cast<uint8_t>((src[0] * 77 + src[1] * 150 + src[2] * 29) >> 8) : src[0];
    } else {
      for (int k = 0; k < 3; ++k) image.pixels[i * 3 + static_cast<size_t>(k)] = colour ? src[k] : src[0];
    }
  }
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
