// Window geometry shared by Conv, ConvTranspose and the pooling ops (reference and fast kernels): reading
// kernel_shape / strides / dilations / pads / auto_pad and computing the output spatial size and effective pads.
// Everything here throws quac::Error naming the node, so it can run both in a kernel factory and in run().
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "ops/kernel.h"
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

// Fills the input, kernel, strides and dilations of `g` and returns the validated pads attribute (2 x rank values,
// zeros when absent): what forward and transposed window geometry share.
inline std::vector<int64_t> window_attrs(const ir::Node& node, const std::vector<int64_t>& input,
                                         const std::vector<int64_t>& kernel, WindowGeometry* g) {
  const size_t rank = input.size();
  g->input = input;
  g->kernel = kernel;
  if (kernel.size() != rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": kernel has ", kernel.size(), " spatial dims, input has ",
               rank);
  g->strides = spatial_attr(node, "strides", rank, 1);
  g->dilations = spatial_attr(node, "dilations", rank, 1);
  std::vector<int64_t> pads = node.attr_ints("pads");
  if (pads.empty()) pads.assign(2 * rank, 0);
  if (pads.size() != 2 * rank)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute pads has ", pads.size(), " values, expected ",
               2 * rank);
  return pads;
}

// Output size of a forward window op (Conv, pooling). `kernel` is the (already validated) kernel spatial shape.
// ceil_mode rounds the output size up, but, as in PyTorch and ONNX Runtime, a window never starts in the end
// padding only.
inline WindowGeometry forward_window(const ir::Node& node, const std::vector<int64_t>& input,
                                     const std::vector<int64_t>& kernel, bool ceil_mode = false) {
  const size_t rank = input.size();
  WindowGeometry g;
  std::vector<int64_t> pads = window_attrs(node, input, kernel, &g);
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
// An output_shape (or SAME_UPPER/SAME_LOWER, whose output is input * stride) overrides pads: the total padding
// is derived from the output size and split as the spec says, which ONNX Runtime 1.30 matches.
inline WindowGeometry transpose_window(const ir::Node& node, const std::vector<int64_t>& input,
                                       const std::vector<int64_t>& kernel, std::vector<int64_t>* output_padding) {
  const size_t rank = input.size();
  WindowGeometry g;
  std::vector<int64_t> pads = window_attrs(node, input, kernel, &g);
  *output_padding = spatial_attr(node, "output_padding", rank, 0);
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
    if (auto_pad == AutoPad::kSameUpper || auto_pad == AutoPad::kSameLower) {
      g.output[d] = !output_shape.empty() ? output_shape[d] : input[d] * g.strides[d];
      // The total padding is negative when the kernel is smaller than the stride; halve it rounding down, as the
      // ONNX reference implementation does.
      const int64_t total = full - g.output[d];
      const int64_t half = total >= 0 ? total / 2 : -((-total + 1) / 2);
      g.pads_begin[d] = auto_pad == AutoPad::kSameUpper ? half : total - half;
      g.pads_end[d] = total - g.pads_begin[d];
    } else {
      if (auto_pad == AutoPad::kNotSet) {
        g.pads_begin[d] = pads[d];
        g.pads_end[d] = pads[d + rank];
      }
      if (!output_shape.empty()) {
        // output_shape overrides pads: the larger half of the total padding goes first (spec, ONNX Runtime). A
        // larger output than the full result is zero-extended at the end.
        g.output[d] = output_shape[d];
        const int64_t total = full - g.output[d];
        g.pads_begin[d] = total >= 0 ? total - total / 2 : 0;
        g.pads_end[d] = total - g.pads_begin[d];
      } else {
        g.output[d] = full - g.pads_begin[d] - g.pads_end[d];
      }
    }
    if (g.output[d] < 0)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": negative output size on spatial axis ", d);
  }
  return g;
}

// Row-major strides of a spatial shape.
// Shared input checks of Conv and ConvTranspose: X is [N, C, D1, ...] and W has X's rank and element type.
inline void check_conv_operands(const KernelContext& ctx, const Tensor& x, const Tensor& w) {
  if (x.rank() < 3) ctx.fail("input X has shape " + shape_str(x.shape()) + ", expected [N, C, D1, ...]");
  if (w.rank() != x.rank())
    ctx.fail("weight W has shape " + shape_str(w.shape()) + ", expected rank " + std::to_string(x.rank()) +
             " to match input X " + shape_str(x.shape()));
  if (w.dtype() != x.dtype()) ctx.fail("weight W and input X have different element types");
}

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

// 16-bit floats: the reference kernels compute in float. PromotingContext shows a kernel its float16/bfloat16
// inputs as float, collects the float outputs it produces and, in finish(), hands them to the real context
// converted back to the 16-bit type. Other inputs and outputs (indices, int64 selections) pass straight through.
class PromotingContext : public KernelContext {
 public:
  PromotingContext(KernelContext& outer, DataType narrow) : outer_(outer), narrow_(narrow) {
    for (size_t i = 0; i < outer.num_inputs(); ++i) {
      const Tensor* t = outer.input(i);
      if (t && t->dtype() == narrow) {
        Tensor f(DataType::kFloat, t->shape());
        const uint16_t* src = static_cast<const uint16_t*>(t->raw_data());
        float* dst = f.data<float>();
        for (int64_t k = 0; k < t->numel(); ++k)
          dst[k] = narrow == DataType::kFloat16 ? half_to_float(src[k]) : bfloat16_to_float(src[k]);
        promoted_[i] = std::move(f);
      }
    }
  }
  const ir::Node& node() const override { return outer_.node(); }
  int64_t opset() const override { return outer_.opset(); }
  size_t num_inputs() const override { return outer_.num_inputs(); }
  const Tensor* input(size_t index) const override {
    auto it = promoted_.find(index);
    return it != promoted_.end() ? &it->second : outer_.input(index);
  }
  size_t num_outputs() const override { return outer_.num_outputs(); }
  bool output_wanted(size_t index) const override { return outer_.output_wanted(index); }
  Tensor& allocate_output(size_t index, DataType type, const Shape& shape) override {
    if (type != DataType::kFloat) return outer_.allocate_output(index, type, shape);
    return results_[index] = Tensor(DataType::kFloat, shape);
  }
  void set_output(size_t index, Tensor tensor) override {
    if (tensor.dtype() == DataType::kFloat)
      results_[index] = std::move(tensor);
    else
      outer_.set_output(index, std::move(tensor));
  }
  int num_threads() const override { return outer_.num_threads(); }
  const Tensor* lookup(const std::string& value) const override { return outer_.lookup(value); }

  void finish() {
    for (auto& [index, f] : results_) {
      Tensor& out = outer_.allocate_output(index, narrow_, f.shape());
      uint16_t* dst = static_cast<uint16_t*>(out.raw_data());
      const float* src = f.data<float>();
      for (int64_t k = 0; k < f.numel(); ++k)
        dst[k] = narrow_ == DataType::kFloat16 ? float_to_half(src[k]) : float_to_bfloat16(src[k]);
    }
  }

 private:
  KernelContext& outer_;
  DataType narrow_;
  std::map<size_t, Tensor> promoted_;
  std::map<size_t, Tensor> results_;
};

// Runs a float kernel `fn`, through PromotingContext when input 0 is float16 or bfloat16.
template <typename Fn>
void run_promoting_16bit(KernelContext& ctx, Fn&& fn) {
  const Tensor* x = ctx.input(0);
  if (!x || (x->dtype() != DataType::kFloat16 && x->dtype() != DataType::kBFloat16)) {
    fn(ctx);
    return;
  }
  PromotingContext promoted(ctx, x->dtype());
  fn(promoted);
  promoted.finish();
}

}  // namespace quac::ops
