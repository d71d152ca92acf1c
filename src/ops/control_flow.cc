// If, Loop, Scan: control flow over subgraphs. Bodies are compiled once when the kernel is created; values a body
// reads from enclosing graphs are resolved at run time through the KernelContext of the node that runs it.
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "ops/kernel.h"
#include "ops/op_util.h"

namespace quac::ops {
namespace {

std::shared_ptr<SubgraphRunner> compile_branch(const KernelInfo& info, const std::string& attr) {
  std::shared_ptr<ir::Graph> g = info.node.attr_graph(attr);
  if (!g) QUAC_THROW(kInvalidModel, "node ", info.node.describe(), ": missing graph attribute '", attr, "'");
  if (!info.compile_subgraph)
    QUAC_THROW(kInternal, "node ", info.node.describe(), ": the runtime cannot compile subgraphs here");
  return info.compile_subgraph(*g);
}

// Copies `count` elements between tensors of the same type (strings are copied as objects, the rest as bytes).
void copy_elements(Tensor& dst, int64_t dst_offset, const Tensor& src, int64_t src_offset, int64_t count) {
  if (count <= 0) return;
  if (src.dtype() == DataType::kString) {
    const std::string* s = src.data<std::string>() + src_offset;
    std::string* d = dst.data<std::string>() + dst_offset;
    std::copy(s, s + count, d);
    return;
  }
  size_t es = dtype_size(src.dtype());
  std::memcpy(static_cast<char*>(dst.raw_data()) + static_cast<size_t>(dst_offset) * es,
              static_cast<const char*>(src.raw_data()) + static_cast<size_t>(src_offset) * es,
              static_cast<size_t>(count) * es);
}

// True when a condition tensor (one element, bool or numeric) holds a non-zero value.
bool condition_value(const KernelContext& ctx, const Tensor& t, const char* what) {
  if (t.numel() != 1) ctx.fail(std::string(what) + " must hold exactly one element, got shape " + shape_str(t.shape()));
  if (t.dtype() == DataType::kBool) return t.data<bool>()[0];
  if (t.dtype() == DataType::kString) ctx.fail(std::string(what) + " must be a bool, got a string tensor");
  return t.scalar_as_double(0) != 0;
}

// Slice `t` at position `index` of `axis`, dropping that axis.
Tensor take_along(const Tensor& t, int64_t axis, int64_t index) {
  Shape shape = t.shape();
  int64_t outer = 1, inner = 1, len = shape[static_cast<size_t>(axis)];
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  shape.erase(shape.begin() + axis);
  Tensor out(t.dtype(), shape);
  for (int64_t o = 0; o < outer; ++o) copy_elements(out, o * inner, t, (o * len + index) * inner, inner);
  return out;
}

// Writes `part` into position `index` of `axis` of `out` (whose shape is part's with `axis` inserted).
void put_along(Tensor& out, int64_t axis, int64_t index, const Tensor& part) {
  const Shape& shape = out.shape();
  int64_t outer = 1, inner = 1, len = shape[static_cast<size_t>(axis)];
  for (int64_t d = 0; d < axis; ++d) outer *= shape[static_cast<size_t>(d)];
  for (size_t d = static_cast<size_t>(axis) + 1; d < shape.size(); ++d) inner *= shape[d];
  for (int64_t o = 0; o < outer; ++o) copy_elements(out, (o * len + index) * inner, part, o * inner, inner);
}

// The declared shape of a body output (unknown dimensions as 0), for scan outputs of loops that never ran.
Shape declared_shape(const ir::ValueInfo& info) {
  Shape shape;
  if (!info.has_shape) return shape;
  for (const auto& d : info.shape) shape.push_back(d.value >= 0 ? d.value : 0);
  return shape;
}

// ---------------------------------------------------------------------------------------------------------------
// If

class IfKernel : public Kernel {
 public:
  explicit IfKernel(const KernelInfo& info)
      : then_(compile_branch(info, "then_branch")), else_(compile_branch(info, "else_branch")) {
    for (const auto* b : {then_.get(), else_.get()})
      if (b->num_inputs() != 0)
        QUAC_THROW(kInvalidModel, "node ", info.node.describe(), ": If branches take no inputs, one declares ",
                   b->num_inputs());
  }

  void run(KernelContext& ctx) override {
    bool cond = condition_value(ctx, ctx.in(0), "the condition");
    SubgraphRunner& branch = cond ? *then_ : *else_;
    const char* name = cond ? "then_branch" : "else_branch";
    if (branch.num_outputs() != ctx.num_outputs())
      ctx.fail(std::string(name) + " has " + std::to_string(branch.num_outputs()) + " outputs, the node " +
               std::to_string(ctx.num_outputs()));
    std::vector<Tensor> outs = branch.run({}, ctx);
    if (outs.size() != ctx.num_outputs()) ctx.fail(std::string(name) + " returned the wrong number of outputs");
    for (size_t i = 0; i < outs.size(); ++i) ctx.set_output(i, std::move(outs[i]));
  }

 private:
  std::shared_ptr<SubgraphRunner> then_, else_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "If",
                      .impl = "reference",
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<IfKernel>(info);
                      }});

// ---------------------------------------------------------------------------------------------------------------
// Loop: inputs (M, cond, v_initial...), body (iteration_num, cond, v...) -> (cond, v..., scan...).

class LoopKernel : public Kernel {
 public:
  explicit LoopKernel(const KernelInfo& info) : body_(compile_branch(info, "body")) {
    size_t carried = info.node.inputs.size() < 2 ? 0 : info.node.inputs.size() - 2;
    if (body_->num_inputs() != carried + 2)
      QUAC_THROW(kInvalidModel, "node ", info.node.describe(), ": Loop body takes ", body_->num_inputs(),
                 " inputs, expected 2 + ", carried, " loop-carried values");
    if (body_->num_outputs() < carried + 1)
      QUAC_THROW(kInvalidModel, "node ", info.node.describe(), ": Loop body has ", body_->num_outputs(),
                 " outputs, expected at least 1 + ", carried);
    if (info.node.outputs.size() != body_->num_outputs() - 1)
      QUAC_THROW(kInvalidModel, "node ", info.node.describe(), ": Loop has ", info.node.outputs.size(),
                 " outputs, its body ", body_->num_outputs(), " (expected one more: the condition)");
    const ir::Graph& g = *info.node.attr_graph("body");
    for (size_t k = carried + 1; k < g.outputs.size(); ++k) scan_infos_.push_back(g.outputs[k]);
  }

  void run(KernelContext& ctx) override {
    const size_t carried = ctx.num_inputs() < 2 ? 0 : ctx.num_inputs() - 2;
    const size_t num_scan = body_->num_outputs() - 1 - carried;
    const Tensor* m = ctx.input(0);
    const Tensor* c = ctx.num_inputs() > 1 ? ctx.input(1) : nullptr;
    int64_t max_trips = 0;  // a negative trip count runs no iteration
    if (m) {
      if (m->numel() != 1 || !dtype_is_integer(m->dtype()))
        ctx.fail("trip count M must be a single integer, got " + std::string(dtype_name(m->dtype())) + " " +
                 shape_str(m->shape()));
      max_trips = m->scalar_as_int(0);
    }
    bool cond = c ? condition_value(ctx, *c, "the loop condition") : true;
    std::vector<Tensor> state(carried);
    for (size_t i = 0; i < carried; ++i) state[i] = ctx.in(i + 2);
    std::vector<std::vector<Tensor>> scans(num_scan);

    for (int64_t it = 0; (!m || it < max_trips) && (!c || cond); ++it) {
      std::vector<Tensor> args;
      args.reserve(carried + 2);
      args.push_back(Tensor::scalar<int64_t>(it));
      args.push_back(Tensor::scalar<bool>(cond));
      for (auto& s : state) args.push_back(s);
      std::vector<Tensor> outs = body_->run(args, ctx);
      if (outs.size() != carried + 1 + num_scan) ctx.fail("loop body returned the wrong number of outputs");
      // Without a condition input the body's condition output is ignored (the loop is a plain for loop).
      if (c) cond = condition_value(ctx, outs[0], "the loop body's condition output");
      for (size_t i = 0; i < carried; ++i) state[i] = std::move(outs[i + 1]);
      for (size_t k = 0; k < num_scan; ++k) {
        Tensor& v = outs[carried + 1 + k];
        if (!scans[k].empty() && (v.shape() != scans[k].front().shape() || v.dtype() != scans[k].front().dtype()))
          ctx.fail("scan output " + std::to_string(k) + " changes from " + shape_str(scans[k].front().shape()) +
                   " to " + shape_str(v.shape()) + " at iteration " + std::to_string(it));
        scans[k].push_back(std::move(v));
      }
    }

    for (size_t i = 0; i < carried; ++i) ctx.set_output(i, state[i]);
    for (size_t k = 0; k < num_scan; ++k) {
      if (scans[k].empty()) {
        DataType type = scan_infos_[k].dtype == DataType::kUndefined ? DataType::kFloat : scan_infos_[k].dtype;
        Shape shape = declared_shape(scan_infos_[k]);
        shape.insert(shape.begin(), 0);
        ctx.allocate_output(carried + k, type, shape);
        continue;
      }
      Shape shape = scans[k].front().shape();
      shape.insert(shape.begin(), static_cast<int64_t>(scans[k].size()));
      Tensor& out = ctx.allocate_output(carried + k, scans[k].front().dtype(), shape);
      for (size_t t = 0; t < scans[k].size(); ++t) put_along(out, 0, static_cast<int64_t>(t), scans[k][t]);
    }
  }

 private:
  std::shared_ptr<SubgraphRunner> body_;
  std::vector<ir::ValueInfo> scan_infos_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "Loop",
                      .impl = "reference",
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<LoopKernel>(info);
                      }});

// ---------------------------------------------------------------------------------------------------------------
// Scan. Opset 8: inputs (sequence_lens, state..., scan...) with a leading batch axis on everything. Opset 9+:
// inputs (state..., scan...) without batch axis, per-input axes and directions.

class ScanKernel : public Kernel {
 public:
  explicit ScanKernel(const KernelInfo& info) : body_(compile_branch(info, "body")), opset_(info.opset) {
    const ir::Node& node = info.node;
    num_scan_inputs_ = node.attr_int("num_scan_inputs", -1);
    size_t first = opset_ <= 8 ? 1 : 0;
    if (num_scan_inputs_ < 0 || node.inputs.size() < first + static_cast<size_t>(num_scan_inputs_))
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": num_scan_inputs ", num_scan_inputs_, " does not fit the ",
                 node.inputs.size(), " inputs");
    num_state_ = node.inputs.size() - first - static_cast<size_t>(num_scan_inputs_);
    if (body_->num_inputs() != num_state_ + static_cast<size_t>(num_scan_inputs_))
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": Scan body takes ", body_->num_inputs(),
                 " inputs, expected ", num_state_ + static_cast<size_t>(num_scan_inputs_));
    if (body_->num_outputs() != node.outputs.size() || body_->num_outputs() < num_state_)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": Scan body has ", body_->num_outputs(),
                 " outputs, the node ", node.outputs.size());
    num_scan_outputs_ = body_->num_outputs() - num_state_;
    const ir::Graph& g = *node.attr_graph("body");
    for (size_t k = num_state_; k < g.outputs.size(); ++k) out_infos_.push_back(g.outputs[k]);
    auto nsi = static_cast<size_t>(num_scan_inputs_);
    if (opset_ <= 8) {
      in_dirs_ = node.attr_ints("directions", std::vector<int64_t>(nsi, 0));
      in_axes_.assign(nsi, 0);
    } else {
      in_dirs_ = node.attr_ints("scan_input_directions", std::vector<int64_t>(nsi, 0));
      in_axes_ = node.attr_ints("scan_input_axes", std::vector<int64_t>(nsi, 0));
      out_dirs_ = node.attr_ints("scan_output_directions", std::vector<int64_t>(num_scan_outputs_, 0));
      out_axes_ = node.attr_ints("scan_output_axes", std::vector<int64_t>(num_scan_outputs_, 0));
    }
    if (out_dirs_.empty()) out_dirs_.assign(num_scan_outputs_, 0);
    if (out_axes_.empty()) out_axes_.assign(num_scan_outputs_, 0);
    if (in_dirs_.size() != nsi || in_axes_.size() != nsi || out_dirs_.size() != num_scan_outputs_ ||
        out_axes_.size() != num_scan_outputs_)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": scan axes/directions do not match the scan values");
  }

  void run(KernelContext& ctx) override {
    if (opset_ <= 8)
      run_batched(ctx);
    else
      run_unbatched(ctx);
  }

 private:
  // One scan over `states` and `inputs` (already without batch axis); returns final states and stacked outputs.
  std::vector<Tensor> scan(KernelContext& ctx, std::vector<Tensor> states, const std::vector<Tensor>& inputs,
                           const std::vector<int64_t>& axes, int64_t length, int64_t valid) {
    std::vector<std::vector<Tensor>> parts(num_scan_outputs_);
    for (int64_t t = 0; t < valid; ++t) {
      std::vector<Tensor> args = states;
      for (size_t j = 0; j < inputs.size(); ++j) {
        int64_t pos = in_dirs_[j] ? valid - 1 - t : t;
        args.push_back(take_along(inputs[j], axes[j], pos));
      }
      std::vector<Tensor> outs = body_->run(args, ctx);
      if (outs.size() != num_state_ + num_scan_outputs_) ctx.fail("scan body returned the wrong number of outputs");
      for (size_t i = 0; i < num_state_; ++i) states[i] = std::move(outs[i]);
      for (size_t k = 0; k < num_scan_outputs_; ++k) {
        Tensor& v = outs[num_state_ + k];
        if (!parts[k].empty() && (v.shape() != parts[k][0].shape() || v.dtype() != parts[k][0].dtype()))
          ctx.fail("scan output " + std::to_string(k) + " changes shape from " + shape_str(parts[k][0].shape()) +
                   " to " + shape_str(v.shape()));
        parts[k].push_back(std::move(v));
      }
    }
    std::vector<Tensor> result = std::move(states);
    for (size_t k = 0; k < num_scan_outputs_; ++k) {
      // Without iterations the per-iteration shape and type come from the body's declaration.
      const ir::ValueInfo& info = out_infos_[k];
      DataType type =
          parts[k].empty() ? (info.dtype == DataType::kUndefined ? DataType::kFloat : info.dtype) : parts[k][0].dtype();
      Shape shape = parts[k].empty() ? declared_shape(info) : parts[k][0].shape();
      auto rank = static_cast<int64_t>(shape.size());
      int64_t axis = out_axes_[k] < 0 ? out_axes_[k] + rank + 1 : out_axes_[k];
      if (axis < 0 || axis > rank) ctx.fail("scan_output_axes value out of range");
      shape.insert(shape.begin() + axis, length);
      // Positions past a short sequence (Scan-8 sequence_lens) stay zero.
      Tensor out = type == DataType::kString ? Tensor(type, shape) : Tensor::zeros(type, shape);
      for (int64_t t = 0; t < valid; ++t)
        put_along(out, axis, out_dirs_[k] ? valid - 1 - t : t, parts[k][static_cast<size_t>(t)]);
      result.push_back(std::move(out));
    }
    return result;
  }

  void run_unbatched(KernelContext& ctx) {
    std::vector<Tensor> states, inputs;
    for (size_t i = 0; i < num_state_; ++i) states.push_back(ctx.in(i));
    std::vector<int64_t> axes;
    int64_t length = -1;
    for (size_t j = 0; j < static_cast<size_t>(num_scan_inputs_); ++j) {
      const Tensor& x = ctx.in(num_state_ + j);
      int64_t axis = normalize_axis(ctx, in_axes_[j], x.rank());
      if (length >= 0 && x.dim(axis) != length)
        ctx.fail("scan inputs have different sequence lengths " + std::to_string(length) + " and " +
                 std::to_string(x.dim(axis)));
      length = x.dim(axis);
      axes.push_back(axis);
      inputs.push_back(x);
    }
    if (length < 0) length = 0;
    std::vector<Tensor> outs = scan(ctx, states, inputs, axes, length, length);
    for (size_t i = 0; i < outs.size(); ++i) ctx.set_output(i, outs[i]);
  }

  void run_batched(KernelContext& ctx) {
    const Tensor* lens = ctx.input(0);
    int64_t batch = -1, length = -1;
    auto check_batch = [&](const Tensor& t) {
      if (t.rank() < 1) ctx.fail("Scan-8 values need a leading batch axis");
      if (batch >= 0 && t.dim(0) != batch) ctx.fail("Scan-8 values have different batch sizes");
      batch = t.dim(0);
    };
    for (size_t i = 0; i < num_state_; ++i) check_batch(ctx.in(1 + i));
    for (size_t j = 0; j < static_cast<size_t>(num_scan_inputs_); ++j) {
      const Tensor& x = ctx.in(1 + num_state_ + j);
      check_batch(x);
      if (x.rank() < 2) ctx.fail("Scan-8 scan inputs need [batch, sequence, ...]");
      if (length >= 0 && x.dim(1) != length) ctx.fail("scan inputs have different sequence lengths");
      length = x.dim(1);
    }
    if (batch < 0) ctx.fail("Scan-8 needs at least one state or scan input");
    std::vector<int64_t> seq_lens(static_cast<size_t>(batch), std::max<int64_t>(length, 0));
    if (lens) {
      if (lens->numel() != batch) ctx.fail("sequence_lens must have one entry per batch item");
      seq_lens = lens->to_int_vector();
      for (int64_t l : seq_lens)
        if (l < 0 || l > length) ctx.fail("sequence_lens value " + std::to_string(l) + " is out of range");
    }
    std::vector<std::vector<Tensor>> per_batch;
    for (int64_t b = 0; b < batch; ++b) {
      std::vector<Tensor> states, inputs;
      for (size_t i = 0; i < num_state_; ++i) states.push_back(take_along(ctx.in(1 + i), 0, b));
      for (size_t j = 0; j < static_cast<size_t>(num_scan_inputs_); ++j)
        inputs.push_back(take_along(ctx.in(1 + num_state_ + j), 0, b));
      per_batch.push_back(scan(ctx, states, inputs, in_axes_, length, seq_lens[static_cast<size_t>(b)]));
    }
    for (size_t o = 0; o < num_state_ + num_scan_outputs_; ++o) {
      // A batch item that ran at least once has the authoritative shape.
      const Tensor* ref = &per_batch[0][o];
      for (int64_t b = 0; b < batch; ++b)
        if (seq_lens[static_cast<size_t>(b)] > 0) {
          ref = &per_batch[static_cast<size_t>(b)][o];
          break;
        }
      Shape shape = ref->shape();
      shape.insert(shape.begin(), batch);
      Tensor& out = ctx.allocate_output(o, ref->dtype(), shape);
      if (out.dtype() != DataType::kString && out.nbytes() > 0) std::memset(out.raw_data(), 0, out.nbytes());
      for (int64_t b = 0; b < batch; ++b) {
        const Tensor& part = per_batch[static_cast<size_t>(b)][o];
        if (part.numel() != ref->numel() || part.dtype() != ref->dtype())
          ctx.fail("Scan-8 output " + std::to_string(o) + " differs in shape between batch items");
        put_along(out, 0, b, part);
      }
    }
  }

  std::shared_ptr<SubgraphRunner> body_;
  int64_t opset_;
  int64_t num_scan_inputs_ = 0;
  size_t num_state_ = 0, num_scan_outputs_ = 0;
  std::vector<int64_t> in_dirs_, in_axes_, out_dirs_, out_axes_;
  std::vector<ir::ValueInfo> out_infos_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "Scan",
                      .impl = "reference",
                      .min_opset = 8,
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<ScanKernel>(info);
                      }});

}  // namespace
}  // namespace quac::ops
