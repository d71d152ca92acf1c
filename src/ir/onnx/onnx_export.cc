#include <onnx/onnx_pb.h>

#include "core/file_util.h"
#include "ir/onnx/onnx_io.h"

namespace quac::onnx_io {
namespace {

void export_tensor(const Tensor& t, const std::string& name, onnx::TensorProto* p) {
  p->set_name(name);
  p->set_data_type(static_cast<int32_t>(t.dtype()));
  for (int64_t d : t.shape()) p->add_dims(d);
  if (t.dtype() == DataType::kString) {
    for (int64_t i = 0; i < t.numel(); ++i) p->add_string_data(t.data<std::string>()[i]);
    return;
  }
  p->set_raw_data(t.raw_data(), t.nbytes());
}

void export_value_info(const ir::ValueInfo& v, onnx::ValueInfoProto* p) {
  p->set_name(v.name);
  if (v.dtype == DataType::kUndefined) return;
  auto* tt = p->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(static_cast<int32_t>(v.dtype));
  if (!v.has_shape) return;
  auto* shape = tt->mutable_shape();
  for (const auto& d : v.shape) {
    auto* dim = shape->add_dim();
    if (d.value >= 0)
      dim->set_dim_value(d.value);
    else if (!d.param.empty())
      dim->set_dim_param(d.param);
  }
}

void export_graph(const ir::Graph& g, onnx::GraphProto* p);

void export_attribute(const ir::Attribute& a, onnx::AttributeProto* p) {
  using K = ir::Attribute::Kind;
  p->set_name(a.name);
  switch (a.kind) {
    case K::kFloat:
      p->set_type(onnx::AttributeProto::FLOAT);
      p->set_f(a.f);
      break;
    case K::kInt:
      p->set_type(onnx::AttributeProto::INT);
      p->set_i(a.i);
      break;
    case K::kString:
      p->set_type(onnx::AttributeProto::STRING);
      p->set_s(a.s);
      break;
    case K::kTensor:
      p->set_type(onnx::AttributeProto::TENSOR);
      export_tensor(a.t, "", p->mutable_t());
      break;
    case K::kGraph:
      p->set_type(onnx::AttributeProto::GRAPH);
      export_graph(*a.g, p->mutable_g());
      break;
    case K::kFloats:
      p->set_type(onnx::AttributeProto::FLOATS);
      for (float f : a.floats) p->add_floats(f);
      break;
    case K::kInts:
      p->set_type(onnx::AttributeProto::INTS);
      for (int64_t i : a.ints) p->add_ints(i);
      break;
    case K::kStrings:
      p->set_type(onnx::AttributeProto::STRINGS);
      for (const auto& s : a.strings) p->add_strings(s);
      break;
    case K::kTensors:
      p->set_type(onnx::AttributeProto::TENSORS);
      for (const auto& t : a.tensors) export_tensor(t, "", p->add_tensors());
      break;
    case K::kGraphs:
      p->set_type(onnx::AttributeProto::GRAPHS);
      for (const auto& g : a.graphs) export_graph(*g, p->add_graphs());
      break;
    case K::kUndefined:
      QUAC_THROW(kInternal, "attribute '", a.name, "' has no kind");
  }
}

void export_graph(const ir::Graph& g, onnx::GraphProto* p) {
  p->set_name(g.name.empty() ? "graph" : g.name);
  for (const auto& v : g.inputs) export_value_info(v, p->add_input());
  for (const auto& v : g.outputs) export_value_info(v, p->add_output());
  for (const auto& v : g.value_info) export_value_info(v, p->add_value_info());
  for (const auto& [name, t] : g.initializers) export_tensor(t, name, p->add_initializer());
  for (const auto& n : g.nodes) {
    auto* np = p->add_node();
    np->set_name(n.name);
    np->set_op_type(n.op_type);
    if (!n.domain.empty()) np->set_domain(n.domain);
    for (const auto& i : n.inputs) np->add_input(i);
    for (const auto& o : n.outputs) np->add_output(o);
    for (const auto& a : n.attributes) export_attribute(a, np->add_attribute());
  }
}

}  // namespace

std::string serialize_model(const ir::Model& model) {
  onnx::ModelProto proto;
  proto.set_ir_version(model.ir_version);
  proto.set_producer_name(model.producer_name.empty() ? "quac" : model.producer_name);
  proto.set_producer_version(model.producer_version);
  for (const auto& [domain, version] : model.opset_imports) {
    auto* op = proto.add_opset_import();
    op->set_domain(domain);
    op->set_version(version);
  }
  for (const auto& [k, v] : model.metadata) {
    auto* kv = proto.add_metadata_props();
    kv->set_key(k);
    kv->set_value(v);
  }
  export_graph(model.graph, proto.mutable_graph());
  std::string bytes;
  if (!proto.SerializeToString(&bytes)) QUAC_THROW(kUnsupported, "model too large to serialise (over 2 GiB)");
  return bytes;
}

void save_model_file(const ir::Model& model, const std::string& path) {
  write_file_atomic(path, serialize_model(model));
}

}  // namespace quac::onnx_io
