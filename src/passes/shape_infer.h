// Best-effort static shape inference for the ops the fusion and layout passes care about. Values whose shape is not
// known statically are simply absent from the map; passes then leave the pattern alone.
#pragma once

#include <map>
#include <string>

#include "ir/graph.h"

namespace quac::passes {

std::map<std::string, Shape> infer_shapes(const ir::Graph& graph);
// The same with every dynamic dimension of the declared shapes replaced by a stand-in value: one per named dimension
// (dim_param), a fresh one per unnamed dimension. Two values with equal shapes here have equal shapes for any
// actual sizes (e.g. a residual Add under a dynamic batch), which is what a fusion needs to know.
std::map<std::string, Shape> infer_generic_shapes(const ir::Graph& graph);

// Conv/pool output spatial size for ONNX attributes (auto_pad, pads, strides, dilations, ceil_mode). Also returns
// the begin/end pads actually used. False when the attributes do not give a valid size.
bool window_output(const ir::Node& node, const Shape& in_spatial, const Shape& kernel, Shape* out, Shape* pad_begin,
                   Shape* pad_end);

}  // namespace quac::passes
