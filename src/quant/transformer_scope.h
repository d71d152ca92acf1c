// model_type "transformer": what NNCF leaves in floating point for transformers, added to the user's ignored scope.
// Facts used (NNCF's ONNX backend, MinMaxQuantization for ModelType.TRANSFORMER):
// - ignored op types: Add, Pow, Squeeze, Sub, AveragePool, GlobalAveragePool, ReduceMean, ReduceL2, ReduceSum, Div,
//   Max, Sqrt, Reciprocal, BatchNormalization, the comparisons Greater, Less, Equal, and Mul (except on
//   Sapphire Rapids CPUs, a device quac does not model). They keep the residual Adds and the scaling Muls that the
//   hardware configs would otherwise quantize in floating point;
// - the ignored pattern MULTIHEAD_ATTENTION_OUTPUT: a MatMul (or Gemm) with one input from Softmax, directly or
//   through one Reshape, and the other from a Reshape, Transpose, Gather or Squeeze: the product of the attention
//   probabilities with the values stays in floating point.
#pragma once

#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/placement.h"

namespace quac::quant {

// The op types above.
const std::vector<std::string>& transformer_ignored_types();
// Names of the nodes of `graph` matching the attention-output pattern above.
std::vector<std::string> attention_output_matmuls(const ir::Graph& graph);
// Adds both to `ignored` (types and node names not already there).
void add_transformer_ignored(const ir::Graph& graph, IgnoredScope& ignored);

}  // namespace quac::quant
