// Shared by quac's own convolutions on top of oneDNN's GEMM (gemm_conv.cc, winograd_conv.cc): oneDNN's packed-matrix
// sgemm, the post-ops their epilogues apply themselves, their on/off switches and node checks; and the registration
// every convolution kernel uses (onednn_conv.cc too).
#pragma once

#include <dnnl.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "kernels/onednn_util.h"

// oneDNN's packed-matrix GEMM (column-major, like MKL's ?gemm_pack / ?gemm_compute). Debian's libdnnl 2.6 exports
// these functions but ships no header for them: without them sgemm re-packs the weight matrix on every call, which
// inside a model (weights out of cache) costs more than the convolution saves. Called from inside an OpenMP parallel
// region, a GEMM runs on the calling thread only.
namespace dnnl::impl::cpu {
dnnl_status_t sgemm_pack_get_size(const char* identifier, const char* transa, const char* transb, const dnnl_dim_t* m,
                                  const dnnl_dim_t* n, const dnnl_dim_t* k, const dnnl_dim_t* lda,
                                  const dnnl_dim_t* ldb, size_t* size, bool* pack);
dnnl_status_t sgemm_pack(const char* identifier, const char* transa, const char* transb, const dnnl_dim_t* m,
                         const dnnl_dim_t* n, const dnnl_dim_t* k, const dnnl_dim_t* lda, const dnnl_dim_t* ldb,
                         const float* src, float* dst);
dnnl_status_t sgemm_compute(const char* transa, const char* transb, const dnnl_dim_t* m, const dnnl_dim_t* n,
                            const dnnl_dim_t* k, const float* a, const dnnl_dim_t* lda, const float* b,
                            const dnnl_dim_t* ldb, const float* beta, float* c, const dnnl_dim_t* ldc);
}  // namespace dnnl::impl::cpu

namespace quac::kernels {

// The post-ops a GEMM-based convolution applies in its own epilogue, in order.
enum class EpilogueKind { kRelu, kLeakyRelu, kClip, kSum };
struct EpilogueOp {
  EpilogueKind kind;
  float alpha, beta;
};

// The node's post-ops as epilogue ops; false (with `why`) when one of them is left to oneDNN's convolution.
inline bool read_epilogue_ops(const ir::Node& node, std::vector<EpilogueOp>* out, std::string* why) {
  std::vector<PostOp> attrs;
  if (!read_post_ops(node, &attrs, why)) return false;
  for (const auto& p : attrs) {
    if (p.op == "Relu") {
      out->push_back({EpilogueKind::kRelu, 0.f, 0.f});
    } else if (p.op == "LeakyRelu") {
      out->push_back({EpilogueKind::kLeakyRelu, p.alpha, 0.f});
    } else if (p.op == "Clip") {
      out->push_back({EpilogueKind::kClip, p.alpha, p.beta});
    } else if (p.op == "Sum") {
      out->push_back({EpilogueKind::kSum, 0.f, 0.f});
    } else {
      *why = "post-op " + p.op + " is left to oneDNN's convolution";
      return false;
    }
  }
  return true;
}

// A process-wide on/off/auto switch read from an environment variable at start-up: "0" = kNever, "1" = kAlways,
// unset or anything else = kAuto (QUAC_CONV_GEMM, QUAC_CONV_WINOGRAD).
template <typename Policy>
Policy policy_from_env(const char* variable) {
  const char* v = std::getenv(variable);
  const std::string s = v ? v : "";
  if (s == "0") return Policy::kNever;
  if (s == "1") return Policy::kAlways;
  return Policy::kAuto;
}

// What both GEMM-based convolutions need of a node beyond its weights: float32 input and bias (when their types are
// known), M bias values, and post-ops their epilogue applies (into `post_ops`); false with `why` otherwise.
inline bool accepts_float_epilogue(const KernelInfo& info, int64_t out_channels, std::vector<EpilogueOp>* post_ops,
                                   std::string* why) {
  const ir::Node& node = info.node;
  if (!maybe_float(info, 0) || (node.has_input(2) && !maybe_float(info, 2))) {
    *why = "only float32 is supported";
    return false;
  }
  if (node.has_input(2) && info.constant_inputs.size() > 2 && info.constant_inputs[2] &&
      info.constant_inputs[2]->numel() != out_channels) {
    *why = "bias does not have M elements";
    return false;
  }
  return read_epilogue_ops(node, post_ops, why);
}

}  // namespace quac::kernels

// Registers a convolution kernel for both ai.onnx Conv and quac.FusedConv (Conv with fused post-ops).
#define QUAC_REGISTER_CONV_KERNEL(impl_name, prio, factory_fn)                                                         \
  QUAC_REGISTER_KERNEL({.domain = "", .op_type = "Conv", .impl = impl_name, .priority = prio, .factory = factory_fn}); \
  QUAC_REGISTER_KERNEL({.domain = "quac",                                                                              \
                        .op_type = "FusedConv",                                                                        \
                        .impl = impl_name,                                                                             \
                        .priority = prio,                                                                              \
                        .min_opset = 0,                                                                                \
                        .factory = factory_fn})
