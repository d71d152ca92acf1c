#include <google/protobuf/io/coded_stream.h>
#include <google/protobuf/io/zero_copy_stream_impl_lite.h>
#include <onnx/onnx_pb.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/file_util.h"
#include "ir/onnx/onnx_io.h"

namespace quac::onnx_io {
namespace fs = std::filesystem;

namespace {

struct ImportContext {
  std::string label;     // file name for messages
  std::string base_dir;  // folder external data must stay inside; empty: no external data
  int depth = 0;
};

DataType convert_dtype(int32_t t, const ImportContext& ctx, const std::string& what) {
  if (t < 1 || t > 16) QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " has unknown data type ", t);
  return static_cast<DataType>(t);
}

// Resolves an external data location strictly inside the model folder.
std::string resolve_external(const std::string& location, const ImportContext& ctx, const std::string& what) {
  if (ctx.base_dir.empty())
    QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " uses external data, which needs a model loaded from a file");
  if (location.empty()) QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": external data has no location");
  fs::path rel(location);
  if (rel.is_absolute() || location.find('\0') != std::string::npos)
    QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": external data path '", location,
               "' is absolute; it must be relative to the model's folder");
  std::error_code ec;
  fs::path base = fs::weakly_canonical(fs::path(ctx.base_dir), ec);
  fs::path full = fs::weakly_canonical(base / rel, ec);
  if (ec) QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": cannot resolve external data path '", location, "'");
  auto [b, f] = std::mismatch(base.begin(), base.end(), full.begin(), full.end());
  if (b != base.end())
    QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": external data path '", location,
               "' escapes the model's folder");
  return full.string();
}

template <typename Src, typename Dst>
void copy_field(const google::protobuf::RepeatedField<Src>& field, Tensor& t) {
  Dst* out = static_cast<Dst*>(t.raw_data());
  for (int i = 0; i < field.size(); ++i) out[i] = static_cast<Dst>(field.Get(i));
}

Tensor convert_tensor(const onnx::TensorProto& p, const ImportContext& ctx) {
  std::string what = "tensor '" + p.name() + "'";
  DataType type = convert_dtype(p.data_type(), ctx, what);
  Shape shape(p.dims().begin(), p.dims().end());
  for (int64_t d : shape)
    if (d < 0) QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " has negative dimension in ", shape_str(shape));
  int64_t n;
  try {
    n = shape_numel(shape);
  } catch (const Error&) {
    QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " has too many elements ", shape_str(shape));
  }
  if (n > (int64_t{1} << 40)) QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " is too large ", shape_str(shape));
  if (p.has_segment()) QUAC_THROW(kUnsupported, ctx.label, ": ", what, " is segmented");
  if (type == DataType::kString) {
    QUAC_CHECK(p.string_data_size() == n, kInvalidModel, ctx.label, ": ", what, " declares ", n, " strings but holds ",
               p.string_data_size());
    Tensor t(type, shape);
    for (int64_t i = 0; i < n; ++i) t.data<std::string>()[i] = p.string_data(static_cast<int>(i));
    return t;
  }
  size_t elem = dtype_size(type);
  uint64_t want = static_cast<uint64_t>(n) * elem;
  if (p.data_location() == onnx::TensorProto::EXTERNAL) {
    std::string location;
    int64_t offset = 0, length = -1;
    for (const auto& kv : p.external_data()) {
      try {
        if (kv.key() == "location")
          location = kv.value();
        else if (kv.key() == "offset")
          offset = std::stoll(kv.value());
        else if (kv.key() == "length")
          length = std::stoll(kv.value());
      } catch (const std::exception&) {
        QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": external data field '", kv.key(), "' is not a number");
      }
    }
    std::string path = resolve_external(location, ctx, what);
    std::error_code ec;
    if (!fs::is_regular_file(path, ec))
      QUAC_THROW(kIoError, ctx.label, ": ", what, ": external data file '", location, "' not found");
    uint64_t file_size = fs::file_size(path, ec);
    if (length < 0) length = static_cast<int64_t>(want);
    if (offset < 0 || static_cast<uint64_t>(length) != want ||
        static_cast<uint64_t>(offset) + static_cast<uint64_t>(length) > file_size)
      QUAC_THROW(kInvalidModel, ctx.label, ": ", what, ": external data (offset ", offset, ", length ", length,
                 ") does not fit the file '", location, "' of ", file_size, " bytes or the tensor's ", want, " bytes");
    Tensor t(type, shape);
    std::ifstream in(path, std::ios::binary);
    in.seekg(offset);
    if (want && !in.read(static_cast<char*>(t.raw_data()), static_cast<std::streamsize>(want)))
      QUAC_THROW(kIoError, ctx.label, ": ", what, ": cannot read external data file '", location, "'");
    return t;
  }
  // Sizes are checked against the data actually present before anything is allocated: a hostile file may declare
  // a huge shape with no data behind it.
  if (p.has_raw_data()) {
    QUAC_CHECK(p.raw_data().size() == want, kInvalidModel, ctx.label, ": ", what, " has ", p.raw_data().size(),
               " bytes of raw data, expected ", want, " for ", dtype_name(type), shape_str(shape));
    Tensor t(type, shape);
    if (want) std::memcpy(t.raw_data(), p.raw_data().data(), want);
    return t;
  }
  int64_t present = std::max(
      {p.float_data_size(), p.double_data_size(), p.int64_data_size(), p.uint64_data_size(), p.int32_data_size()});
  QUAC_CHECK(n <= 2 * std::max<int64_t>(present, 0), kInvalidModel, ctx.label, ": ", what, " declares ", n,
             " values for ", shape_str(shape), " but holds ", present);
  Tensor t(type, shape);
  auto check_count = [&](int count) {
    QUAC_CHECK(count == n, kInvalidModel, ctx.label, ": ", what, " holds ", count, " values, expected ", n, " for ",
               shape_str(shape));
  };
  switch (type) {
    case DataType::kFloat:
      check_count(p.float_data_size());
      copy_field<float, float>(p.float_data(), t);
      break;
    case DataType::kComplex64:
      QUAC_CHECK(p.float_data_size() == 2 * n, kInvalidModel, ctx.label, ": ", what, " has wrong value count");
      copy_field<float, float>(p.float_data(), t);
      break;
    case DataType::kDouble:
      check_count(p.double_data_size());
      copy_field<double, double>(p.double_data(), t);
      break;
    case DataType::kComplex128:
      QUAC_CHECK(p.double_data_size() == 2 * n, kInvalidModel, ctx.label, ": ", what, " has wrong value count");
      copy_field<double, double>(p.double_data(), t);
      break;
    case DataType::kInt64:
      check_count(p.int64_data_size());
      copy_field<int64_t, int64_t>(p.int64_data(), t);
      break;
    case DataType::kUInt32:
      check_count(p.uint64_data_size());
      copy_field<uint64_t, uint32_t>(p.uint64_data(), t);
      break;
    case DataType::kUInt64:
      check_count(p.uint64_data_size());
      copy_field<uint64_t, uint64_t>(p.uint64_data(), t);
      break;
    case DataType::kInt32:
      check_count(p.int32_data_size());
      copy_field<int32_t, int32_t>(p.int32_data(), t);
      break;
    case DataType::kInt16:
      check_count(p.int32_data_size());
      copy_field<int32_t, int16_t>(p.int32_data(), t);
      break;
    case DataType::kInt8:
      check_count(p.int32_data_size());
      copy_field<int32_t, int8_t>(p.int32_data(), t);
      break;
    case DataType::kUInt16:
    case DataType::kFloat16:
    case DataType::kBFloat16:
      check_count(p.int32_data_size());
      copy_field<int32_t, uint16_t>(p.int32_data(), t);
      break;
    case DataType::kUInt8:
      check_count(p.int32_data_size());
      copy_field<int32_t, uint8_t>(p.int32_data(), t);
      break;
    case DataType::kBool: {
      check_count(p.int32_data_size());
      bool* out = t.data<bool>();
      for (int64_t i = 0; i < n; ++i) out[i] = p.int32_data(static_cast<int>(i)) != 0;
      break;
    }
    default:
      QUAC_THROW(kUnsupported, ctx.label, ": ", what, " has unsupported type ", dtype_name(type));
  }
  return t;
}

// A sparse tensor becomes dense: quac does not execute sparse formats.
Tensor convert_sparse(const onnx::SparseTensorProto& sp, const ImportContext& ctx) {
  Tensor values = convert_tensor(sp.values(), ctx);
  Tensor indices = convert_tensor(sp.indices(), ctx);
  Shape shape(sp.dims().begin(), sp.dims().end());
  std::string what = "sparse tensor '" + sp.values().name() + "'";
  int64_t dense_numel = 0;
  try {
    dense_numel = shape_numel(shape);
  } catch (const Error&) {
    QUAC_THROW(kInvalidModel, ctx.label, ": ", what, " has an invalid shape ", shape_str(shape));
  }
  // Densifying must not turn a few bytes of file into an arbitrarily large allocation.
  QUAC_CHECK(dense_numel <= (int64_t{1} << 28), kUnsupported, ctx.label, ": ", what, " of shape ", shape_str(shape),
             " is too large to densify");
  Tensor dense = Tensor::zeros(values.dtype(), shape);
  QUAC_CHECK(values.rank() == 1, kInvalidModel, ctx.label, ": ", what, " values must be 1-D");
  int64_t nnz = values.numel();
  auto idx = indices.to_int_vector();
  size_t elem = dtype_size(values.dtype());
  QUAC_CHECK(values.dtype() != DataType::kString, kUnsupported, ctx.label, ": ", what, " of strings");
  std::vector<int64_t> strides(shape.size(), 1);
  for (int i = static_cast<int>(shape.size()) - 2; i >= 0; --i) strides[i] = strides[i + 1] * shape[i + 1];
  for (int64_t k = 0; k < nnz; ++k) {
    int64_t flat = 0;
    if (indices.rank() == 1) {
      QUAC_CHECK(indices.numel() == nnz, kInvalidModel, ctx.label, ": ", what, " has wrong index count");
      flat = idx[static_cast<size_t>(k)];
    } else {
      QUAC_CHECK(indices.rank() == 2 && indices.dim(0) == nnz && indices.dim(1) == static_cast<int64_t>(shape.size()),
                 kInvalidModel, ctx.label, ": ", what, " has malformed indices");
      for (size_t d = 0; d < shape.size(); ++d) {
        int64_t i = idx[static_cast<size_t>(k) * shape.size() + d];
        QUAC_CHECK(i >= 0 && i < shape[d], kInvalidModel, ctx.label, ": ", what, " index out of range");
        flat += i * strides[d];
      }
    }
    QUAC_CHECK(flat >= 0 && flat < dense.numel(), kInvalidModel, ctx.label, ": ", what, " index out of range");
    std::memcpy(static_cast<char*>(dense.raw_data()) + flat * elem,
                static_cast<const char*>(values.raw_data()) + k * elem, elem);
  }
  return dense;
}

ir::ValueInfo convert_value_info(const onnx::ValueInfoProto& v, const ImportContext& ctx) {
  ir::ValueInfo info;
  info.name = v.name();
  if (!v.has_type()) return info;
  const auto& type = v.type();
  if (type.has_tensor_type()) {
    const auto& tt = type.tensor_type();
    if (tt.elem_type() != 0) info.dtype = convert_dtype(tt.elem_type(), ctx, "value '" + v.name() + "'");
    if (tt.has_shape()) {
      info.has_shape = true;
      for (const auto& d : tt.shape().dim()) {
        ir::Dim dim;
        if (d.has_dim_value())
          dim.value = d.dim_value();
        else if (d.has_dim_param())
          dim.param = d.dim_param();
        info.shape.push_back(dim);
      }
    }
  } else if (type.has_sequence_type()) {
    info.non_tensor_type = "sequence";
  } else if (type.has_optional_type()) {
    info.non_tensor_type = "optional";
  } else if (type.has_map_type()) {
    info.non_tensor_type = "map";
  } else if (type.has_sparse_tensor_type()) {
    info.non_tensor_type = "sparse_tensor";
  }
  return info;
}

std::shared_ptr<ir::Graph> convert_graph(const onnx::GraphProto& g, ImportContext& ctx);

ir::Attribute convert_attribute(const onnx::AttributeProto& a, const ir::Node& node, ImportContext& ctx) {
  ir::Attribute out;
  out.name = a.name();
  using K = ir::Attribute::Kind;
  if (!a.ref_attr_name().empty())
    QUAC_THROW(kUnsupported, ctx.label, ": node ", node.describe(),
               ": attribute references (functions) are not supported");
  switch (a.type()) {
    case onnx::AttributeProto::FLOAT:
      out.kind = K::kFloat;
      out.f = a.f();
      break;
    case onnx::AttributeProto::INT:
      out.kind = K::kInt;
      out.i = a.i();
      break;
    case onnx::AttributeProto::STRING:
      out.kind = K::kString;
      out.s = a.s();
      break;
    case onnx::AttributeProto::TENSOR:
      out.kind = K::kTensor;
      out.t = convert_tensor(a.t(), ctx);
      break;
    case onnx::AttributeProto::SPARSE_TENSOR:
      out.kind = K::kTensor;
      out.t = convert_sparse(a.sparse_tensor(), ctx);
      break;
    case onnx::AttributeProto::GRAPH:
      out.kind = K::kGraph;
      out.g = convert_graph(a.g(), ctx);
      break;
    case onnx::AttributeProto::FLOATS:
      out.kind = K::kFloats;
      out.floats.assign(a.floats().begin(), a.floats().end());
      break;
    case onnx::AttributeProto::INTS:
      out.kind = K::kInts;
      out.ints.assign(a.ints().begin(), a.ints().end());
      break;
    case onnx::AttributeProto::STRINGS:
      out.kind = K::kStrings;
      out.strings.assign(a.strings().begin(), a.strings().end());
      break;
    case onnx::AttributeProto::TENSORS:
      out.kind = K::kTensors;
      for (const auto& t : a.tensors()) out.tensors.push_back(convert_tensor(t, ctx));
      break;
    case onnx::AttributeProto::GRAPHS:
      out.kind = K::kGraphs;
      for (const auto& sg : a.graphs()) out.graphs.push_back(convert_graph(sg, ctx));
      break;
    case onnx::AttributeProto::UNDEFINED: {
      // Old exporters omit the type; infer it from the populated field.
      if (a.has_f()) {
        out.kind = K::kFloat;
        out.f = a.f();
      } else if (a.has_i()) {
        out.kind = K::kInt;
        out.i = a.i();
      } else if (a.has_s()) {
        out.kind = K::kString;
        out.s = a.s();
      } else if (a.has_t()) {
        out.kind = K::kTensor;
        out.t = convert_tensor(a.t(), ctx);
      } else if (a.has_g()) {
        out.kind = K::kGraph;
        out.g = convert_graph(a.g(), ctx);
      } else if (a.floats_size()) {
        out.kind = K::kFloats;
        out.floats.assign(a.floats().begin(), a.floats().end());
      } else if (a.ints_size()) {
        out.kind = K::kInts;
        out.ints.assign(a.ints().begin(), a.ints().end());
      } else if (a.strings_size()) {
        out.kind = K::kStrings;
        out.strings.assign(a.strings().begin(), a.strings().end());
      } else
        QUAC_THROW(kInvalidModel, ctx.label, ": node ", node.describe(), ": attribute '", a.name(), "' has no type");
      break;
    }
    default:
      QUAC_THROW(kUnsupported, ctx.label, ": node ", node.describe(), ": attribute '", a.name(),
                 "' has unsupported type ", static_cast<int>(a.type()));
  }
  return out;
}

std::shared_ptr<ir::Graph> convert_graph(const onnx::GraphProto& g, ImportContext& ctx) {
  if (++ctx.depth > 64) QUAC_THROW(kInvalidModel, ctx.label, ": subgraphs nested deeper than 64 levels");
  auto graph = std::make_shared<ir::Graph>();
  graph->name = g.name();
  for (const auto& t : g.initializer()) {
    if (t.name().empty()) QUAC_THROW(kInvalidModel, ctx.label, ": an initializer has no name");
    if (graph->initializers.count(t.name()))
      QUAC_THROW(kInvalidModel, ctx.label, ": initializer '", t.name(), "' is defined twice");
    graph->initializers[t.name()] = convert_tensor(t, ctx);
  }
  for (const auto& sp : g.sparse_initializer()) graph->initializers[sp.values().name()] = convert_sparse(sp, ctx);
  for (const auto& v : g.input()) {
    if (graph->initializers.count(v.name())) continue;  // IR < 4 lists initializers as inputs too
    graph->inputs.push_back(convert_value_info(v, ctx));
  }
  for (const auto& v : g.output()) graph->outputs.push_back(convert_value_info(v, ctx));
  for (const auto& v : g.value_info()) graph->value_info.push_back(convert_value_info(v, ctx));
  for (const auto& n : g.node()) {
    ir::Node node;
    node.name = n.name();
    node.op_type = n.op_type();
    node.domain = n.domain() == "ai.onnx" ? "" : n.domain();
    if (node.op_type.empty()) QUAC_THROW(kInvalidModel, ctx.label, ": a node (name '", n.name(), "') has no op_type");
    node.inputs.assign(n.input().begin(), n.input().end());
    node.outputs.assign(n.output().begin(), n.output().end());
    std::set<std::string> seen;
    for (const auto& a : n.attribute()) {
      if (!seen.insert(a.name()).second)
        QUAC_THROW(kInvalidModel, ctx.label, ": node ", node.describe(), ": attribute '", a.name(), "' appears twice");
      node.attributes.push_back(convert_attribute(a, node, ctx));
    }
    graph->nodes.push_back(std::move(node));
  }
  --ctx.depth;
  return graph;
}

}  // namespace

std::shared_ptr<ir::Model> load_model_bytes(const std::string& bytes, const std::string& base_dir,
                                            const std::string& label) {
  onnx::ModelProto proto;
  google::protobuf::io::ArrayInputStream raw(bytes.data(), static_cast<int>(std::min<size_t>(bytes.size(), INT32_MAX)));
  google::protobuf::io::CodedInputStream coded(&raw);
  coded.SetRecursionLimit(200);
  if (bytes.size() > static_cast<size_t>(INT32_MAX))
    QUAC_THROW(kUnsupported, label, ": model files over 2 GiB need external data");
  if (!proto.ParseFromCodedStream(&coded) || !coded.ConsumedEntireMessage())
    QUAC_THROW(kInvalidModel, label, ": not a valid ONNX model (protobuf parse failed)");
  if (!proto.has_graph()) QUAC_THROW(kInvalidModel, label, ": model has no graph");
  ImportContext ctx{label, base_dir, 0};
  auto model = std::make_shared<ir::Model>();
  model->ir_version = proto.ir_version();
  model->producer_name = proto.producer_name();
  model->producer_version = proto.producer_version();
  model->model_path = label;
  for (const auto& op : proto.opset_import()) {
    std::string domain = op.domain() == "ai.onnx" ? "" : op.domain();
    model->opset_imports[domain] = op.version();
  }
  if (model->opset_imports.empty()) {
    if (proto.ir_version() >= 3)
      QUAC_THROW(kInvalidModel, label, ": model (IR version ", proto.ir_version(), ") declares no opset_import");
    model->opset_imports[""] = 1;
  }
  for (const auto& kv : proto.metadata_props()) model->metadata[kv.key()] = kv.value();
  if (proto.functions_size() > 0)
    QUAC_THROW(kUnsupported, label, ": model-local functions ('", proto.functions(0).name(), "') are not supported");
  model->graph = std::move(*convert_graph(proto.graph(), ctx));
  for (const auto& node : model->graph.nodes) {
    if (!model->opset_imports.count(node.domain))
      QUAC_THROW(kInvalidModel, label, ": node ", node.describe(), " uses domain '", node.domain,
                 "', which the model does not import");
  }
  // Quantization scopes and reports refer to nodes by name: give unnamed (or duplicate-named) nodes unique names.
  std::set<std::string> names;
  for (const auto& node : model->graph.nodes) names.insert(node.name);
  std::set<std::string> used;
  for (size_t i = 0; i < model->graph.nodes.size(); ++i) {
    auto& node = model->graph.nodes[i];
    if (!node.name.empty() && used.insert(node.name).second) continue;
    std::string base = node.name.empty() ? node.op_type + "_" + std::to_string(i) : node.name + "_" + std::to_string(i);
    std::string name = base;
    for (int k = 1; names.count(name) || used.count(name); ++k) name = base + "_" + std::to_string(k);
    node.name = name;
    used.insert(name);
    names.insert(name);
  }
  try {
    model->graph.topological_sort();
  } catch (const Error& e) {
    throw Error(e.code(), label + ": " + e.what());
  }
  return model;
}

std::shared_ptr<ir::Model> load_model_file(const std::string& path) {
  std::string bytes = read_file(path);
  fs::path p(path);
  std::string dir = p.has_parent_path() ? p.parent_path().string() : ".";
  return load_model_bytes(bytes, dir, path);
}

Tensor load_tensor_file(const std::string& path) {
  std::string bytes = read_file(path);
  onnx::TensorProto proto;
  if (!proto.ParseFromString(bytes)) QUAC_THROW(kInvalidModel, path, ": not a valid TensorProto");
  fs::path p(path);
  ImportContext ctx{path, p.has_parent_path() ? p.parent_path().string() : ".", 0};
  return convert_tensor(proto, ctx);
}

}  // namespace quac::onnx_io
