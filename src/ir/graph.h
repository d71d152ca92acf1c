// The in-memory model: Graph, Node, attributes. Values are identified by name, as in ONNX.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quac/tensor.h"

namespace quac::ir {

class Graph;

struct Attribute {
  enum class Kind { kUndefined, kFloat, kInt, kString, kTensor, kGraph, kFloats, kInts, kStrings, kTensors, kGraphs };
  std::string name;
  Kind kind = Kind::kUndefined;
  float f = 0;
  int64_t i = 0;
  std::string s;
  Tensor t;
  std::shared_ptr<Graph> g;
  std::vector<float> floats;
  std::vector<int64_t> ints;
  std::vector<std::string> strings;
  std::vector<Tensor> tensors;
  std::vector<std::shared_ptr<Graph>> graphs;
};
const char* attribute_kind_name(Attribute::Kind kind);

// Attribute factories, for passes, quantization and tests that build nodes.
Attribute make_int_attr(const std::string& name, int64_t value);
Attribute make_float_attr(const std::string& name, float value);
Attribute make_string_attr(const std::string& name, std::string value);
Attribute make_ints_attr(const std::string& name, std::vector<int64_t> values);
Attribute make_floats_attr(const std::string& name, std::vector<float> values);
Attribute make_strings_attr(const std::string& name, std::vector<std::string> values);
Attribute make_tensor_attr(const std::string& name, Tensor value);
Attribute make_graph_attr(const std::string& name, std::shared_ptr<Graph> value);

// One dimension of a declared shape: a number, or a symbolic name (or unknown, value < 0 and empty param).
struct Dim {
  int64_t value = -1;
  std::string param;
};

struct ValueInfo {
  std::string name;
  DataType dtype = DataType::kUndefined;
  bool has_shape = false;
  std::vector<Dim> shape;
  // Non-tensor ONNX types (sequence, optional, map) are recorded but not executed.
  std::string non_tensor_type;
};

struct Node {
  std::string name;
  std::string op_type;
  std::string domain;               // "" is the default ai.onnx domain
  std::vector<std::string> inputs;  // "" marks an omitted optional input
  std::vector<std::string> outputs;
  std::vector<Attribute> attributes;

  const Attribute* find(const std::string& attr_name) const;
  bool has(const std::string& attr_name) const { return find(attr_name) != nullptr; }
  // Typed accessors: the default is returned when the attribute is absent; a wrong kind throws kInvalidModel
  // naming the node and the attribute.
  int64_t attr_int(const std::string& attr_name, int64_t default_value) const;
  float attr_float(const std::string& attr_name, float default_value) const;
  std::string attr_string(const std::string& attr_name, const std::string& default_value) const;
  std::vector<int64_t> attr_ints(const std::string& attr_name, const std::vector<int64_t>& default_value = {}) const;
  std::vector<float> attr_floats(const std::string& attr_name, const std::vector<float>& default_value = {}) const;
  std::vector<std::string> attr_strings(const std::string& attr_name) const;
  const Tensor* attr_tensor(const std::string& attr_name) const;
  std::shared_ptr<Graph> attr_graph(const std::string& attr_name) const;
  void set_attr(Attribute attribute);  // replaces one of the same name

  // "Conv 'conv1'" for error messages.
  std::string describe() const;
  bool has_input(size_t index) const { return index < inputs.size() && !inputs[index].empty(); }
};

class Graph {
 public:
  std::string name;
  std::vector<ValueInfo> inputs;  // excludes initializers (those are in `initializers`)
  std::vector<ValueInfo> outputs;
  std::vector<ValueInfo> value_info;
  std::vector<Node> nodes;  // kept in topological order by import and by every pass
  std::map<std::string, Tensor> initializers;

  const Tensor* initializer(const std::string& value) const;
  bool is_input(const std::string& value) const;
  bool is_output(const std::string& value) const;
  const ValueInfo* find_value_info(const std::string& value) const;  // inputs, outputs, value_info
  // Sorts nodes topologically (stable). Values produced by no node must be graph inputs, initializers or, for a
  // subgraph, come from `outer_scope`. Throws kInvalidModel naming the node on a cycle or an undefined input.
  void topological_sort(const std::vector<std::string>& outer_scope = {});
  // Map value -> indices of consuming nodes (subgraph references included).
  std::map<std::string, std::vector<size_t>> consumers() const;
  // Map value -> index of producing node.
  std::map<std::string, size_t> producers() const;
  // Names read by this graph's nodes (and nested subgraphs) that it does not define itself.
  std::vector<std::string> outer_references() const;
  // Drops the initializers no node (nor subgraph) reads, unless they are graph inputs or outputs or in `keep`.
  void remove_unread_initializers(const std::set<std::string>& keep = {});
};

// Every value a node reads: its inputs and what its subgraphs read from outer scopes.
std::vector<std::string> node_reads(const Node& node);

struct Model {
  int64_t ir_version = 8;
  std::map<std::string, int64_t> opset_imports;  // domain ("" = ai.onnx) -> version
  std::string producer_name;
  std::string producer_version;
  std::string model_path;  // the file it was loaded from, for error messages; empty if built in memory
  std::map<std::string, std::string> metadata;
  Graph graph;

  int64_t opset(const std::string& domain = "") const;  // 0 if not imported
};

}  // namespace quac::ir
