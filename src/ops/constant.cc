// Constant, Identity: values that pass through unchanged.
#include "ops/kernel.h"

namespace quac::ops {
namespace {

// Constant: exactly one of value / sparse_value (densified at import) / value_float(s) / value_int(s) /
// value_string(s).
Tensor constant_value(const ir::Node& node) {
  if (const Tensor* t = node.attr_tensor("value")) return *t;
  if (const Tensor* t = node.attr_tensor("sparse_value")) return *t;
  if (node.has("value_float")) return Tensor::scalar<float>(node.attr_float("value_float", 0));
  if (node.has("value_int")) return Tensor::scalar<int64_t>(node.attr_int("value_int", 0));
  if (node.has("value_string")) return Tensor::scalar<std::string>(node.attr_string("value_string", ""));
  if (node.has("value_floats")) {
    auto v = node.attr_floats("value_floats");
    return Tensor::from_vector<float>({static_cast<int64_t>(v.size())}, v);
  }
  if (node.has("value_ints")) {
    auto v = node.attr_ints("value_ints");
    return Tensor::from_vector<int64_t>({static_cast<int64_t>(v.size())}, v);
  }
  if (node.has("value_strings")) {
    auto v = node.attr_strings("value_strings");
    return Tensor::from_vector<std::string>({static_cast<int64_t>(v.size())}, v);
  }
  QUAC_THROW(kInvalidModel, "node ", node.describe(), ": Constant has no value attribute");
}

class ConstantKernel : public Kernel {
 public:
  explicit ConstantKernel(Tensor value) : value_(std::move(value)) {}
  void run(KernelContext& ctx) override { ctx.set_output(0, value_); }

 private:
  Tensor value_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "Constant",
                      .impl = "reference",
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<ConstantKernel>(constant_value(info.node));
                      }});

QUAC_REGISTER_REFERENCE_OP("Identity", [](KernelContext& ctx) { ctx.set_output(0, ctx.in(0)); });

}  // namespace
}  // namespace quac::ops
