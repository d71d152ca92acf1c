#include "kernels/onednn_util.h"

#include <algorithm>
#include <cmath>

#include "kernels/cpu_features.h"

namespace quac::kernels {

dnnl::engine& cpu_engine() {
  static dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  return engine;
}

dnnl::stream& cpu_stream() {
  thread_local dnnl::stream stream(cpu_engine());
  return stream;
}

tag plain_tag(size_t rank) {
  switch (rank) {
    case 1:
      return tag::a;
    case 2:
      return tag::ab;
    case 3:
      return tag::abc;
    case 4:
      return tag::abcd;
    case 5:
      return tag::abcde;
    case 6:
      return tag::abcdef;
    default:
      return tag::undef;
  }
}

bool cpu_has_vnni() {
  static const bool vnni = [] {
    auto isa = dnnl::get_effective_cpu_isa();
    return isa == dnnl::cpu_isa::avx2_vnni || isa == dnnl::cpu_isa::avx512_core_vnni ||
           isa == dnnl::cpu_isa::avx512_core_bf16 || isa == dnnl::cpu_isa::avx512_core_amx;
  }();
  return vnni;
}

bool known_post_op(const std::string& op) {
  static const char* kOps[] = {"Relu",      "Clip", "LeakyRelu", "Sigmoid", "Tanh", "HardSigmoid",
                               "HardSwish", "Elu",  "Swish",     "Gelu",    "Sum"};
  for (const char* k : kOps)
    if (op == k) return true;
  return false;
}

bool read_post_ops(const ir::Node& node, std::vector<PostOp>* out, std::string* why) {
  auto ops = node.attr_strings("post_ops");
  auto alphas = node.attr_floats("post_alpha"), betas = node.attr_floats("post_beta");
  if (alphas.size() != ops.size() || betas.size() != ops.size()) {
    *why = "post-op attributes disagree in length";
    return false;
  }
  if (std::count(ops.begin(), ops.end(), "Sum") > 1) {
    *why = "more than one Sum";
    return false;
  }
  for (size_t i = 0; i < ops.size(); ++i) out->push_back({ops[i], alphas[i], betas[i]});
  return true;
}

bool append_eltwise(dnnl::post_ops& ops, const std::string& op, float alpha, float beta) {
  using alg = dnnl::algorithm;
  if (op == "Relu") {
    ops.append_eltwise(1.f, alg::eltwise_relu, 0.f, 0.f);
  } else if (op == "LeakyRelu") {
    ops.append_eltwise(1.f, alg::eltwise_relu, alpha, 0.f);
  } else if (op == "Clip") {
    if (std::isnan(alpha) || std::isnan(beta)) return false;
    ops.append_eltwise(1.f, alg::eltwise_clip_v2, std::max(alpha, -3.4e38f), std::min(beta, 3.4e38f));
  } else if (op == "Sigmoid") {
    ops.append_eltwise(1.f, alg::eltwise_logistic, 0.f, 0.f);
  } else if (op == "Tanh") {
    ops.append_eltwise(1.f, alg::eltwise_tanh, 0.f, 0.f);
  } else if (op == "HardSigmoid") {
    ops.append_eltwise(1.f, alg::eltwise_linear, alpha, beta);
    ops.append_eltwise(1.f, alg::eltwise_clip_v2, 0.f, 1.f);
  } else if (op == "HardSwish") {
    ops.append_eltwise(1.f, alg::eltwise_hardswish, 0.f, 0.f);
  } else if (op == "Elu") {
    ops.append_eltwise(1.f, alg::eltwise_elu, alpha, 0.f);
  } else if (op == "Swish") {
    ops.append_eltwise(1.f, alg::eltwise_swish, alpha, 0.f);
  } else if (op == "Gelu") {
    ops.append_eltwise(1.f, alg::eltwise_gelu_erf, 0.f, 0.f);
  } else {
    return false;
  }
  return true;
}

void reorder(const dnnl::memory& from, const dnnl::memory& to) {
  dnnl::reorder(from, to).execute(cpu_stream(), const_cast<dnnl::memory&>(from), const_cast<dnnl::memory&>(to));
}

bool maybe_float(const KernelInfo& info, size_t index) {
  if (index < info.constant_inputs.size() && info.constant_inputs[index])
    return info.constant_inputs[index]->dtype() == DataType::kFloat;
  if (index < info.input_infos.size() && info.input_infos[index] &&
      info.input_infos[index]->dtype != DataType::kUndefined)
    return info.input_infos[index]->dtype == DataType::kFloat;
  return true;
}

bool known_float(const KernelInfo& info, size_t index) {
  if (index < info.constant_inputs.size() && info.constant_inputs[index])
    return info.constant_inputs[index]->dtype() == DataType::kFloat;
  return index < info.input_infos.size() && info.input_infos[index] &&
         info.input_infos[index]->dtype == DataType::kFloat;
}

std::unique_ptr<Kernel> make_reference_kernel(const KernelInfo& info) {
  for (const KernelDef* def : KernelRegistry::instance().find(info.node.domain, info.node.op_type, info.opset)) {
    if (def->priority != 0) continue;
    std::string why;
    if (auto k = def->factory(info, &why)) return k;
  }
  return nullptr;
}

std::unique_ptr<Kernel> make_kernel_below(const KernelInfo& info, int priority) {
  for (const KernelDef* def : KernelRegistry::instance().find(info.node.domain, info.node.op_type, info.opset)) {
    if (def->priority >= priority) continue;
    std::string why;
    if (auto k = def->factory(info, &why)) return k;
  }
  return nullptr;
}

}  // namespace quac::kernels
