// Window geometry shared by Conv, ConvTranspose and the pooling ops (reference and fast kernels): reading
// kernel_shape / strides / dilations / pads / auto_pad and computing the output spatial size and effective pads.
// Everything here throws quac::Error naming the node, so it can run both in a kernel factory and in run().
#pragma once

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/error.h"
#include "quac/tensor.h"

namespace quac::ops {

enum class AutoPad { kNotSet, kSameUpper, kSameLower, kValid };

inline AutoPad parse_auto_pad(const ir::Node& node) {
  std::string s = node.attr_string("auto_pad", "NOTSET");
  if (s == "NOTSET" || s.empty()) return AutoPad::kNotSet;
  if (s == "SAME_UPPER") return AutoPad::kSameUpper;
  if (s == "SAME_LOWER") return AutoPad::kSameLower;
  if (s == "VALID") return AutoPad::kValid;
  QUAC_THROW(kInvalidModel, "node ", node.describe(), ": unknown auto_pad '", s, "'");
}

// The resolved window of a convolution or pooling over `rank` spatial dimensions.
struct WindowGeometry {
  std::vector<int64_t> input;      // input spatial size
  std::vector<int64_t> kernel;     // kernel spatial size
  std::vector<int64_t> strides;    // >= 1
  std::vector<int64_t> dilations;  // >= 1
  std::vector<int64_t> pads_begin;
  std::vector<int64_t> pads_end;
  std::vector<int64_t> output;  // output spatial size

  size_t rank() const { return input.size(); }
  // Extent of the dilated kernel along spatial axis d.
  int64_t extent(size_t d) const { return (kernel[d] - 1) * dilations[d] + 1; }
};

// Reads an ints attribute that must have `rank` entries (or be absent: then every entry is `fallback`).
inline std::vector<int64_t> spatial_attr(const ir::Node& node, const std::string& name, size_t rank, int64_t fallback) {
  std::vector<int64_t> v = node.attr_ints(name);
  if (v.empty()) return std::vector<int64_t>(rank, fallback);
  if (v.size() != rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute ", name, " has ", v.size(), " values, expected ",
               rank);
  return v;
}

// Output size of a forward window op (Conv, pooling). `kernel` is the (already validated) kernel spatial shape.
// ceil_mode rounds the output size up, but, as in PyTorch and ONNX Runtime, a window never starts in the end
// padding only.
inline WindowGeometry forward_window(const ir::Node& node, const std::vector<int64_t>& input,
                                     const std::vector<int64_t>& kernel, bool ceil_mode = false) {
  const size_t rank = input.size();
  WindowGeometry g;
  g.input = input;
  g.kernel = kernel;
  if (kernel.size() != rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": kernel has ", kernel.size(), " spatial dims, input has ",
               rank);
  g.strides = spatial_attr(node, "strides", rank, 1);
  g.dilations = spatial_attr(node, "dilations", rank, 1);
  std::vector<int64_t> pads = node.attr_ints("pads");
  if (pads.empty()) pads.assign(2 * rank, 0);
  if (pads.size() != 2 * rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute pads has ", pads.size(), " values, expected ",
               2 * rank);
  AutoPad auto_pad = parse_auto_pad(node);
  g.pads_begin.assign(rank, 0);
  g.pads_end.assign(rank, 0);
  g.output.assign(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    if (kernel[d] < 1 || g.strides[d] < 1 || g.dilations[d] < 1)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": kernel, strides and dilations must be positive");
    const int64_t in = input[d], ext = g.extent(d), s = g.strides[d];
    switch (auto_pad) {
      case AutoPad::kNotSet: {
        g.pads_begin[d] = pads[d];
        g.pads_end[d] = pads[d + rank];
        if (g.pads_begin[d] < 0 || g.pads_end[d] < 0)
          QUAC_THROW(kInvalidModel, "node ", node.describe(), ": negative pads");
        int64_t span = in + g.pads_begin[d] + g.pads_end[d] - ext;
        if (span < 0)
          QUAC_THROW(kInvalidArgument, "node ", node.describe(), ": kernel extent ", ext,
                     " is larger than the padded input (", in + g.pads_begin[d] + g.pads_end[d], ") on spatial axis ",
                     d);
        int64_t out = (ceil_mode ? (span + s - 1) / s : span / s) + 1;
        if (ceil_mode && (out - 1) * s >= in + g.pads_begin[d]) --out;
        g.output[d] = out;
        break;
      }
      case AutoPad::kValid:
        if (in < ext)
          QUAC_THROW(kInvalidArgument, "node ", node.describe(), ": kernel extent ", ext, " is larger than input ", in,
                     " on spatial axis ", d);
        g.output[d] = (in - ext) / s + 1;
        break;
      case AutoPad::kSameUpper:
      case AutoPad::kSameLower: {
        g.output[d] = (in + s - 1) / s;
        int64_t total = std::max<int64_t>(0, (g.output[d] - 1) * s + ext - in);
        g.pads_begin[d] = auto_pad == AutoPad::kSameUpper ? total / 2 : total - total / 2;
        g.pads_end[d] = total - g.pads_begin[d];
        break;
      }
    }
  }
  return g;
}

// Geometry of ConvTranspose. `input` is the input spatial size; the result's `output` is the output spatial size.
// output_shape (when given) overrides pads: the total padding is derived from it and split according to auto_pad.
inline WindowGeometry transpose_window(const ir::Node& node, const std::vector<int64_t>& input,
                                       const std::vector<int64_t>& kernel, std::vector<int64_t>* output_padding) {
  const size_t rank = input.size();
  WindowGeometry g;
  g.input = input;
  g.kernel = kernel;
  if (kernel.size() != rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": kernel has ", kernel.size(), " spatial dims, input has ",
               rank);
  g.strides = spatial_attr(node, "strides", rank, 1);
  g.dilations = spatial_attr(node, "dilations", rank, 1);
  *output_padding = spatial_attr(node, "output_padding", rank, 0);
  std::vector<int64_t> pads = node.attr_ints("pads");
  if (pads.empty()) pads.assign(2 * rank, 0);
  if (pads.size() != 2 * rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute pads has ", pads.size(), " values, expected ",
               2 * rank);
  std::vector<int64_t> output_shape = node.attr_ints("output_shape");
  // output_shape may list the batch and channel dims too; only the spatial ones matter.
  if (output_shape.size() == rank + 2) output_shape.erase(output_shape.begin(), output_shape.begin() + 2);
  if (!output_shape.empty() && output_shape.size() != rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute output_shape has ", output_shape.size(),
               " values, expected ", rank);
  AutoPad auto_pad = parse_auto_pad(node);
  g.pads_begin.assign(rank, 0);
  g.pads_end.assign(rank, 0);
  g.output.assign(rank, 0);
  for (size_t d = 0; d < rank; ++d) {
    if (kernel[d] < 1 || g.strides[d] < 1 || g.dilations[d] < 1)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": kernel, strides and dilations must be positive");
    const int64_t full = g.strides[d] * (input[d] - 1) + (*output_padding)[d] + g.extent(d);
    if (!output_shape.empty() || auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      int64_t out = !output_shape.empty() ? output_shape[d] : input[d] * g.strides[d];
      int64_t total = full - out;
      if (total < 0) {
        // A larger requested output is reached by extending at the end (zeros beyond the full result).
        g.pads_begin[d] = 0;
        g.pads_end[d] = total;
      } else if (auto_pad == AutoPad::kSameUpper) {
        g.pads_begin[d] = total / 2;
        g.pads_end[d] = total - total / 2;
      } else {
        g.pads_begin[d] = total - total / 2;
        g.pads_end[d] = total / 2;
      }
      g.output[d] = out;
    } else {
      if (auto_pad == AutoPad::kNotSet) {
        g.pads_begin[d] = pads[d];
        g.pads_end[d] = pads[d + rank];
      }
      g.output[d] = full - g.pads_begin[d] - g.pads_end[d];
    }
    if (g.output[d] < 0)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": negative output size on spatial axis ", d);
  }
  return g;
}

// Row-major strides of a spatial shape.
inline std::vector<int64_t> spatial_strides(const std::vector<int64_t>& dims) {
  std::vector<int64_t> s(dims.size(), 1);
  for (size_t d = dims.size(); d-- > 1;) s[d - 1] = s[d] * dims[d];
  return s;
}

inline int64_t product(const std::vector<int64_t>& dims) {
  int64_t p = 1;
  for (int64_t v : dims) p *= v;
  return p;
}

// Advances a multi-index over `dims` in row-major order; returns false after the last index.
inline bool next_index(std::vector<int64_t>& idx, const std::vector<int64_t>& dims) {
  for (size_t d = dims.size(); d-- > 0;) {
    if (++idx[d] < dims[d]) return true;
    idx[d] = 0;
  }
  return false;
}

}  // namespace quac::ops
