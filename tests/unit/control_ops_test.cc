// Control flow and recurrent ops run through a Session on tiny in-memory models: If reading outer-scope values,
// Loop with carried values and scan outputs (including zero iterations), LSTM shapes, and bad-input failures.
#include <gtest/gtest.h>

#include <cmath>

#include "ir/graph.h"
#include "ops/kernel.h"
#include "quac/session.h"

namespace quac {
namespace {

// A test-only elementwise float add (same shapes) under its own domain, so these tests do not depend on the
// ai.onnx arithmetic kernels.
QUAC_REGISTER_KERNEL({.domain = "quac.test",
                      .op_type = "AddSame",
                      .impl = "reference",
                      .factory = [](const KernelInfo&, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<FunctionKernel>([](KernelContext& ctx) {
                          const Tensor& a = ctx.in(0);
                          const Tensor& b = ctx.in(1);
                          if (a.shape() != b.shape()) ctx.fail("shapes differ");
                          Tensor& out = ctx.allocate_output(0, DataType::kFloat, a.shape());
                          for (int64_t i = 0; i < a.numel(); ++i)
                            out.data<float>()[i] = a.data<float>()[i] + b.data<float>()[i];
                        });
                      }});

ir::ValueInfo value(const std::string& name, DataType type, std::vector<int64_t> dims) {
  ir::ValueInfo v;
  v.name = name;
  v.dtype = type;
  v.has_shape = true;
  for (int64_t d : dims) v.shape.push_back(ir::Dim{d, ""});
  return v;
}

ir::Node node(const std::string& op, std::vector<std::string> inputs, std::vector<std::string> outputs,
              const std::string& domain = "") {
  ir::Node n;
  n.name = op + "_" + (outputs.empty() ? std::string() : outputs[0]);
  n.op_type = op;
  n.domain = domain;
  n.inputs = std::move(inputs);
  n.outputs = std::move(outputs);
  return n;
}

ir::Node add(const std::string& a, const std::string& b, const std::string& out) {
  return node("AddSame", {a, b}, {out}, "quac.test");
}

void set_graph(ir::Node& n, const std::string& name, std::shared_ptr<ir::Graph> g) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kGraph;
  a.g = std::move(g);
  n.set_attr(std::move(a));
}

void set_string(ir::Node& n, const std::string& name, const std::string& s) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kString;
  a.s = s;
  n.set_attr(std::move(a));
}

void set_ints(ir::Node& n, const std::string& name, std::vector<int64_t> v) {
  ir::Attribute a;
  a.name = name;
  a.kind = ir::Attribute::Kind::kInts;
  a.ints = std::move(v);
  n.set_attr(std::move(a));
}

Model make_model(ir::Graph graph, int64_t opset = 13) {
  auto m = std::make_shared<ir::Model>();
  m->opset_imports = {{"", opset}, {"quac.test", 1}};
  m->graph = std::move(graph);
  return Model(m);
}

std::vector<float> floats(const Tensor& t) { return t.to_float_vector(); }

std::vector<Tensor> run(Session& session, const std::vector<Tensor>& inputs) { return session.run(inputs); }

// If whose branches read a graph input (x) and a value computed earlier in the outer graph (y = x + x).
Model if_model(int then_outputs = 1) {
  auto then_g = std::make_shared<ir::Graph>();
  then_g->name = "then";
  then_g->nodes.push_back(node("Identity", {"y"}, {"then_out"}));
  then_g->outputs.push_back(value("then_out", DataType::kFloat, {2}));
  if (then_outputs == 2) {
    then_g->nodes.push_back(node("Identity", {"x"}, {"then_extra"}));
    then_g->outputs.push_back(value("then_extra", DataType::kFloat, {2}));
  }
  auto else_g = std::make_shared<ir::Graph>();
  else_g->name = "else";
  else_g->nodes.push_back(node("Identity", {"x"}, {"else_out"}));
  else_g->outputs.push_back(value("else_out", DataType::kFloat, {2}));

  ir::Graph g;
  g.name = "if_test";
  g.inputs = {value("cond", DataType::kBool, {}), value("x", DataType::kFloat, {2})};
  g.inputs[0].has_shape = false;  // the condition is fed as a scalar or, in the failure test, as a vector
  g.nodes.push_back(add("x", "x", "y"));
  ir::Node n = node("If", {"cond"}, {"res"});
  set_graph(n, "then_branch", then_g);
  set_graph(n, "else_branch", else_g);
  g.nodes.push_back(std::move(n));
  g.outputs.push_back(value("res", DataType::kFloat, {2}));
  return make_model(std::move(g));
}

TEST(If, ReadsOuterValuesInBothBranches) {
  Session session(if_model());
  Tensor x = Tensor::from_vector<float>({2}, {1.5f, -2.0f});
  auto then_out = run(session, {Tensor::scalar<bool>(true), x});
  EXPECT_EQ(floats(then_out[0]), (std::vector<float>{3.0f, -4.0f}));
  auto else_out = run(session, {Tensor::scalar<bool>(false), x});
  EXPECT_EQ(floats(else_out[0]), (std::vector<float>{1.5f, -2.0f}));
}

TEST(If, RejectsNonScalarCondition) {
  Session session(if_model());
  Tensor cond = Tensor::from_vector<bool>({2}, {true, false});
  EXPECT_THROW(run(session, {cond, Tensor::from_vector<float>({2}, {1, 2})}), Error);
}

TEST(If, RejectsBranchWithWrongNumberOfOutputs) {
  // Whether the mismatch is caught at compile time or at run time, it is a quac::Error, never a crash.
  EXPECT_THROW(
      {
        Session session(if_model(2));
        run(session, {Tensor::scalar<bool>(true), Tensor::from_vector<float>({2}, {1, 2})});
      },
      Error);
}

// Loop: v <- v + x (x from the outer graph), scan output collects every v.
Model loop_model(bool with_cond) {
  auto body = std::make_shared<ir::Graph>();
  body->name = "body";
  body->inputs = {value("i", DataType::kInt64, {}), value("c_in", DataType::kBool, {}),
                  value("v_in", DataType::kFloat, {2})};
  body->nodes.push_back(node("Identity", {"c_in"}, {"c_out"}));
  body->nodes.push_back(add("v_in", "x", "v_out"));
  body->nodes.push_back(node("Identity", {"v_out"}, {"scan_out"}));
  body->outputs = {value("c_out", DataType::kBool, {}), value("v_out", DataType::kFloat, {2}),
                   value("scan_out", DataType::kFloat, {2})};

  ir::Graph g;
  g.name = "loop_test";
  g.inputs = {value("M", DataType::kInt64, {}), value("v0", DataType::kFloat, {2}), value("x", DataType::kFloat, {2})};
  if (with_cond) g.inputs.push_back(value("cond", DataType::kBool, {}));
  ir::Node n = node("Loop", {"M", with_cond ? "cond" : "", "v0"}, {"v_final", "scan"});
  set_graph(n, "body", body);
  g.nodes.push_back(std::move(n));
  g.outputs = {value("v_final", DataType::kFloat, {2}), value("scan", DataType::kFloat, {-1, 2})};
  return make_model(std::move(g));
}

TEST(Loop, CarriesValueAndConcatenatesScanOutputs) {
  Session session(loop_model(false));
  auto out = run(session, {Tensor::scalar<int64_t>(3), Tensor::from_vector<float>({2}, {0, 1}),
                           Tensor::from_vector<float>({2}, {1, 10})});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{3, 31}));
  EXPECT_EQ(out[1].shape(), (Shape{3, 2}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{1, 11, 2, 21, 3, 31}));
}

TEST(Loop, ZeroIterationsGiveEmptyScanOutputOfFullRank) {
  Session session(loop_model(false));
  auto out = run(session, {Tensor::scalar<int64_t>(0), Tensor::from_vector<float>({2}, {4, 5}),
                           Tensor::from_vector<float>({2}, {1, 1})});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{4, 5}));
  EXPECT_EQ(out[1].shape(), (Shape{0, 2}));
  EXPECT_EQ(out[1].dtype(), DataType::kFloat);
  // A negative trip count also runs no iteration (rather than meaning "unbounded").
  out = run(session, {Tensor::scalar<int64_t>(-1), Tensor::from_vector<float>({2}, {4, 5}),
                      Tensor::from_vector<float>({2}, {1, 1})});
  EXPECT_EQ(out[1].shape(), (Shape{0, 2}));
}

TEST(Loop, FalseConditionStopsBeforeFirstIteration) {
  Session session(loop_model(true));
  auto out = run(session, {Tensor::scalar<int64_t>(5), Tensor::from_vector<float>({2}, {4, 5}),
                           Tensor::from_vector<float>({2}, {1, 1}), Tensor::scalar<bool>(false)});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{4, 5}));
  EXPECT_EQ(out[1].shape(), (Shape{0, 2}));
}

TEST(Loop, RejectsNonScalarTripCount) {
  Session session(loop_model(false));
  EXPECT_THROW(run(session, {Tensor::from_vector<int64_t>({2}, {1, 2}), Tensor::from_vector<float>({2}, {0, 0}),
                             Tensor::from_vector<float>({2}, {1, 1})}),
               Error);
}

// Scan-9 over axis 1 of X in reverse, stacking the running sum along output axis 1.
TEST(Scan, ReverseDirectionAndAxes) {
  auto body = std::make_shared<ir::Graph>();
  body->name = "scan_body";
  body->inputs = {value("s_in", DataType::kFloat, {2}), value("x_t", DataType::kFloat, {2})};
  body->nodes.push_back(add("s_in", "x_t", "s_out"));
  body->nodes.push_back(node("Identity", {"s_out"}, {"scan_out"}));
  body->outputs = {value("s_out", DataType::kFloat, {2}), value("scan_out", DataType::kFloat, {2})};
  ir::Graph g;
  g.name = "scan_test";
  g.inputs = {value("s0", DataType::kFloat, {2}), value("X", DataType::kFloat, {2, 3})};
  ir::Node n = node("Scan", {"s0", "X"}, {"s_final", "stacked"});
  set_graph(n, "body", body);
  n.set_attr(ir::Attribute{.name = "num_scan_inputs", .kind = ir::Attribute::Kind::kInt, .i = 1});
  set_ints(n, "scan_input_axes", {1});
  set_ints(n, "scan_input_directions", {1});
  set_ints(n, "scan_output_axes", {-1});
  g.nodes.push_back(std::move(n));
  g.outputs = {value("s_final", DataType::kFloat, {2}), value("stacked", DataType::kFloat, {2, 3})};
  Session session(make_model(std::move(g), 11));
  auto out = run(session,
                 {Tensor::from_vector<float>({2}, {0, 0}), Tensor::from_vector<float>({2, 3}, {1, 2, 3, 10, 20, 30})});
  EXPECT_EQ(floats(out[0]), (std::vector<float>{6, 60}));
  EXPECT_EQ(out[1].shape(), (Shape{2, 3}));
  EXPECT_EQ(floats(out[1]), (std::vector<float>{3, 5, 6, 30, 50, 60}));
}

// A Loop body holding an If whose branch reads a value computed in the top-level graph (two scopes up).
TEST(Loop, NestedIfReadsTopLevelValue) {
  auto then_g = std::make_shared<ir::Graph>();
  then_g->name = "then";
  then_g->nodes.push_back(node("Identity", {"twice"}, {"picked"}));
  then_g->outputs = {value("picked", DataType::kFloat, {2})};
  auto else_g = std::make_shared<ir::Graph>();
  else_g->name = "else";
  else_g->nodes.push_back(node("Identity", {"x"}, {"picked_else"}));
  else_g->outputs = {value("picked_else", DataType::kFloat, {2})};
  auto body = std::make_shared<ir::Graph>();
  body->name = "body";
  body->inputs = {value("i", DataType::kInt64, {}), value("c_in", DataType::kBool, {}),
                  value("v_in", DataType::kFloat, {2})};
  body->nodes.push_back(node("Identity", {"c_in"}, {"c_out"}));
  ir::Node branch = node("If", {"flag"}, {"step"});
  set_graph(branch, "then_branch", then_g);
  set_graph(branch, "else_branch", else_g);
  body->nodes.push_back(std::move(branch));
  body->nodes.push_back(add("v_in", "step", "v_out"));
  body->outputs = {value("c_out", DataType::kBool, {}), value("v_out", DataType::kFloat, {2})};
  ir::Graph g;
  g.name = "nested";
  g.inputs = {value("M", DataType::kInt64, {}), value("flag", DataType::kBool, {}), value("x", DataType::kFloat, {2})};
  g.nodes.push_back(add("x", "x", "twice"));
  ir::Node loop = node("Loop", {"M", "", "x"}, {"v_final"});
  set_graph(loop, "body", body);
  g.nodes.push_back(std::move(loop));
  g.outputs = {value("v_final", DataType::kFloat, {2})};
  Session session(make_model(std::move(g)));
  Tensor x = Tensor::from_vector<float>({2}, {1, 2});
  EXPECT_EQ(floats(run(session, {Tensor::scalar<int64_t>(2), Tensor::scalar<bool>(true), x})[0]),
            (std::vector<float>{5, 10}));
  EXPECT_EQ(floats(run(session, {Tensor::scalar<int64_t>(2), Tensor::scalar<bool>(false), x})[0]),
            (std::vector<float>{3, 6}));
}

// LSTM with zero weights: every gate is sigmoid(0) = 0.5 and the candidate tanh(0) = 0, so C_t = 0.5 C_{t-1} and
// H_t = 0.5 tanh(C_t), in both directions.
TEST(Lstm, BidirectionalShapesAndValues) {
  const int64_t seq = 3, batch = 2, input = 4, hidden = 5;
  ir::Graph g;
  g.name = "lstm_test";
  g.inputs = {value("X", DataType::kFloat, {seq, batch, input}), value("c0", DataType::kFloat, {2, batch, hidden})};
  g.initializers["W"] = Tensor::zeros(DataType::kFloat, {2, 4 * hidden, input});
  g.initializers["R"] = Tensor::zeros(DataType::kFloat, {2, 4 * hidden, hidden});
  ir::Node n = node("LSTM", {"X", "W", "R", "", "", "", "c0"}, {"Y", "Y_h", "Y_c"});
  set_string(n, "direction", "bidirectional");
  ir::Attribute hs;
  hs.name = "hidden_size";
  hs.kind = ir::Attribute::Kind::kInt;
  hs.i = hidden;
  n.set_attr(hs);
  g.nodes.push_back(std::move(n));
  g.outputs = {value("Y", DataType::kFloat, {seq, 2, batch, hidden}),
               value("Y_h", DataType::kFloat, {2, batch, hidden}), value("Y_c", DataType::kFloat, {2, batch, hidden})};
  Session session(make_model(std::move(g), 14));
  std::vector<float> c0(static_cast<size_t>(2 * batch * hidden), 1.0f);
  auto out = run(session, {Tensor::zeros(DataType::kFloat, {seq, batch, input}),
                           Tensor::from_vector<float>({2, batch, hidden}, c0)});
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].shape(), (Shape{seq, 2, batch, hidden}));
  EXPECT_EQ(out[1].shape(), (Shape{2, batch, hidden}));
  EXPECT_EQ(out[2].shape(), (Shape{2, batch, hidden}));
  const float c_last = 0.125f;  // 0.5^3
  for (float v : floats(out[2])) EXPECT_NEAR(v, c_last, 1e-6);
  for (float v : floats(out[1])) EXPECT_NEAR(v, 0.5f * std::tanh(c_last), 1e-6);
  // Forward: Y[0] is after one step (C = 0.5); reverse: Y[0] is its last step (C = 0.125).
  const float* y = out[0].data<float>();
  EXPECT_NEAR(y[0], 0.5f * std::tanh(0.5f), 1e-6);
  EXPECT_NEAR(y[batch * hidden], 0.5f * std::tanh(0.125f), 1e-6);
}

}  // namespace
}  // namespace quac
