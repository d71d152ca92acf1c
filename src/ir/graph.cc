#include "ir/graph.h"

#include <algorithm>
#include <functional>
#include <set>

namespace quac::ir {

const char* attribute_kind_name(Attribute::Kind kind) {
  switch (kind) {
    case Attribute::Kind::kUndefined:
      return "undefined";
    case Attribute::Kind::kFloat:
      return "float";
    case Attribute::Kind::kInt:
      return "int";
    case Attribute::Kind::kString:
      return "string";
    case Attribute::Kind::kTensor:
      return "tensor";
    case Attribute::Kind::kGraph:
      return "graph";
    case Attribute::Kind::kFloats:
      return "floats";
    case Attribute::Kind::kInts:
      return "ints";
    case Attribute::Kind::kStrings:
      return "strings";
    case Attribute::Kind::kTensors:
      return "tensors";
    case Attribute::Kind::kGraphs:
      return "graphs";
  }
  return "unknown";
}

namespace {
Attribute named(const std::string& name, Attribute::Kind kind) {
  Attribute a;
  a.name = name;
  a.kind = kind;
  return a;
}
}  // namespace

Attribute make_int_attr(const std::string& name, int64_t value) {
  Attribute a = named(name, Attribute::Kind::kInt);
  a.i = value;
  return a;
}
Attribute make_float_attr(const std::string& name, float value) {
  Attribute a = named(name, Attribute::Kind::kFloat);
  a.f = value;
  return a;
}
Attribute make_string_attr(const std::string& name, std::string value) {
  Attribute a = named(name, Attribute::Kind::kString);
  a.s = std::move(value);
  return a;
}
Attribute make_ints_attr(const std::string& name, std::vector<int64_t> values) {
  Attribute a = named(name, Attribute::Kind::kInts);
  a.ints = std::move(values);
  return a;
}
Attribute make_floats_attr(const std::string& name, std::vector<float> values) {
  Attribute a = named(name, Attribute::Kind::kFloats);
  a.floats = std::move(values);
  return a;
}
Attribute make_strings_attr(const std::string& name, std::vector<std::string> values) {
  Attribute a = named(name, Attribute::Kind::kStrings);
  a.strings = std::move(values);
  return a;
}
Attribute make_tensor_attr(const std::string& name, Tensor value) {
  Attribute a = named(name, Attribute::Kind::kTensor);
  a.t = std::move(value);
  return a;
}
Attribute make_graph_attr(const std::string& name, std::shared_ptr<Graph> value) {
  Attribute a = named(name, Attribute::Kind::kGraph);
  a.g = std::move(value);
  return a;
}

const Attribute* Node::find(const std::string& attr_name) const {
  for (const auto& a : attributes)
    if (a.name == attr_name) return &a;
  return nullptr;
}

std::string Node::describe() const {
  std::string s = domain.empty() ? op_type : domain + "." + op_type;
  if (!name.empty())
    s += " '" + name + "'";
  else if (!outputs.empty())
    s += " (output '" + outputs[0] + "')";
  return s;
}

namespace {
const Attribute* checked(const Node& node, const std::string& name, Attribute::Kind kind) {
  const Attribute* a = node.find(name);
  if (a && a->kind != kind)
    QUAC_THROW(kInvalidModel, "node ", node.describe(), ": attribute '", name, "' is ", attribute_kind_name(a->kind),
               ", expected ", attribute_kind_name(kind));
  return a;
}
}  // namespace

int64_t Node::attr_int(const std::string& n, int64_t d) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kInt);
  return a ? a->i : d;
}
float Node::attr_float(const std::string& n, float d) const {
  const Attribute* a = find(n);
  if (a && a->kind == Attribute::Kind::kInt) return static_cast<float>(a->i);  // tolerate ints where floats expected
  a = checked(*this, n, Attribute::Kind::kFloat);
  return a ? a->f : d;
}
std::string Node::attr_string(const std::string& n, const std::string& d) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kString);
  return a ? a->s : d;
}
std::vector<int64_t> Node::attr_ints(const std::string& n, const std::vector<int64_t>& d) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kInts);
  return a ? a->ints : d;
}
std::vector<float> Node::attr_floats(const std::string& n, const std::vector<float>& d) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kFloats);
  return a ? a->floats : d;
}
std::vector<std::string> Node::attr_strings(const std::string& n) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kStrings);
  return a ? a->strings : std::vector<std::string>{};
}
const Tensor* Node::attr_tensor(const std::string& n) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kTensor);
  return a ? &a->t : nullptr;
}
std::shared_ptr<Graph> Node::attr_graph(const std::string& n) const {
  const Attribute* a = checked(*this, n, Attribute::Kind::kGraph);
  return a ? a->g : nullptr;
}
void Node::set_attr(Attribute attribute) {
  for (auto& a : attributes) {
    if (a.name == attribute.name) {
      a = std::move(attribute);
      return;
    }
  }
  attributes.push_back(std::move(attribute));
}

const Tensor* Graph::initializer(const std::string& value) const {
  auto it = initializers.find(value);
  return it == initializers.end() ? nullptr : &it->second;
}

bool Graph::is_input(const std::string& value) const {
  return std::any_of(inputs.begin(), inputs.end(), [&](const ValueInfo& v) { return v.name == value; });
}

bool Graph::is_output(const std::string& value) const {
  return std::any_of(outputs.begin(), outputs.end(), [&](const ValueInfo& v) { return v.name == value; });
}

const ValueInfo* Graph::find_value_info(const std::string& value) const {
  for (const auto* list : {&inputs, &outputs, &value_info})
    for (const auto& v : *list)
      if (v.name == value) return &v;
  return nullptr;
}

namespace {
void node_reads(const Node& node, std::vector<std::string>& out) {
  for (const auto& in : node.inputs)
    if (!in.empty()) out.push_back(in);
  for (const auto& a : node.attributes) {
    if (a.kind == Attribute::Kind::kGraph && a.g) {
      auto refs = a.g->outer_references();
      out.insert(out.end(), refs.begin(), refs.end());
    } else if (a.kind == Attribute::Kind::kGraphs) {
      for (const auto& g : a.graphs) {
        if (!g) continue;
        auto refs = g->outer_references();
        out.insert(out.end(), refs.begin(), refs.end());
      }
    }
  }
}
}  // namespace

std::vector<std::string> node_reads(const Node& node) {
  std::vector<std::string> out;
  node_reads(node, out);
  return out;
}

void Graph::remove_unread_initializers(const std::set<std::string>& keep) {
  std::set<std::string> read;
  for (const auto& n : nodes)
    for (const auto& v : node_reads(n)) read.insert(v);
  for (auto it = initializers.begin(); it != initializers.end();) {
    if (!read.count(it->first) && !is_output(it->first) && !is_input(it->first) && !keep.count(it->first))
      it = initializers.erase(it);
    else
      ++it;
  }
}

std::vector<std::string> Graph::outer_references() const {
  std::set<std::string> defined;
  for (const auto& v : inputs) defined.insert(v.name);
  for (const auto& [n, t] : initializers) defined.insert(n);
  for (const auto& node : nodes)
    for (const auto& o : node.outputs)
      if (!o.empty()) defined.insert(o);
  std::set<std::string> refs;
  for (const auto& node : nodes) {
    std::vector<std::string> reads;
    node_reads(node, reads);
    for (auto& r : reads)
      if (!defined.count(r)) refs.insert(r);
  }
  for (const auto& o : outputs)
    if (!defined.count(o.name)) refs.insert(o.name);
  return {refs.begin(), refs.end()};
}

void Graph::topological_sort(const std::vector<std::string>& outer_scope) {
  const std::set<std::string> outer(outer_scope.begin(), outer_scope.end());
  std::set<std::string> available = outer;
  for (const auto& v : inputs) available.insert(v.name);
  for (const auto& [n, t] : initializers) available.insert(n);
  std::map<std::string, size_t> producer;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) {
        // Single assignment: no value is produced twice or overwrites a graph input or initializer (a subgraph may
        // shadow a name of its outer scope).
        if (producer.count(o) || (available.count(o) && !outer.count(o)))
          QUAC_THROW(kInvalidModel, "value '", o, "' is defined twice (node ", nodes[i].describe(), ")");
        producer[o] = i;
      }
  std::vector<std::vector<std::string>> reads(nodes.size());
  for (size_t i = 0; i < nodes.size(); ++i) node_reads(nodes[i], reads[i]);

  std::vector<int> state(nodes.size(), 0);  // 0 new, 1 visiting, 2 done
  std::vector<Node> order;
  order.reserve(nodes.size());
  // Iterative DFS keeps the original order where it is already valid and cannot overflow the stack.
  for (size_t root = 0; root < nodes.size(); ++root) {
    if (state[root]) continue;
    std::vector<std::pair<size_t, size_t>> stack{{root, 0}};
    state[root] = 1;
    while (!stack.empty()) {
      auto& [n, next] = stack.back();
      if (next < reads[n].size()) {
        const std::string& r = reads[n][next++];
        auto it = producer.find(r);
        if (it == producer.end()) {
          if (!available.count(r))
            QUAC_THROW(kInvalidModel, "node ", nodes[n].describe(), " reads '", r,
                       "', which is not a graph input, an initializer or the output of any node");
          continue;
        }
        size_t p = it->second;
        if (p == n) continue;  // a node may not read its own output; treated as a cycle below
        if (state[p] == 1) QUAC_THROW(kInvalidModel, "graph has a cycle through node ", nodes[p].describe());
        if (state[p] == 0) {
          state[p] = 1;
          stack.push_back({p, 0});
        }
      } else {
        state[n] = 2;
        order.push_back(nodes[n]);
        stack.pop_back();
      }
    }
  }
  nodes = std::move(order);
}

std::map<std::string, std::vector<size_t>> Graph::consumers() const {
  std::map<std::string, std::vector<size_t>> out;
  for (size_t i = 0; i < nodes.size(); ++i) {
    std::vector<std::string> reads;
    node_reads(nodes[i], reads);
    std::sort(reads.begin(), reads.end());
    reads.erase(std::unique(reads.begin(), reads.end()), reads.end());
    for (auto& r : reads) out[r].push_back(i);
  }
  return out;
}

std::map<std::string, size_t> Graph::producers() const {
  std::map<std::string, size_t> out;
  for (size_t i = 0; i < nodes.size(); ++i)
    for (const auto& o : nodes[i].outputs)
      if (!o.empty()) out[o] = i;
  return out;
}

int64_t Model::opset(const std::string& domain) const {
  auto it = opset_imports.find(domain);
  if (it == opset_imports.end() && domain == "ai.onnx") it = opset_imports.find("");
  return it == opset_imports.end() ? 0 : it->second;
}

}  // namespace quac::ir
