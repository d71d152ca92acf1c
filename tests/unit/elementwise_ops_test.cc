// Targeted checks of the elementwise reference kernels (the conformance data covers the common cases).
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/model.h"
#include "quac/session.h"

namespace quac {
namespace {

// Runs a one-node model on the reference kernels with `threads` threads.
std::vector<Tensor> run_op(const std::string& op, const std::vector<Tensor>& inputs,
                           const std::vector<ir::Attribute>& attrs = {}, int64_t opset = 17, int threads = 1) {
  auto m = std::make_shared<ir::Model>();
  m->opset_imports[""] = opset;
  ir::Node node;
  node.name = "n";
  node.op_type = op;
  node.attributes = attrs;
  for (size_t i = 0; i < inputs.size(); ++i) {
    ir::ValueInfo v;
    v.name = "in" + std::to_string(i);
    v.dtype = inputs[i].dtype();
    m->graph.inputs.push_back(v);
    node.inputs.push_back(v.name);
  }
  node.outputs = {"out"};
  ir::ValueInfo out;
  out.name = "out";
  m->graph.outputs.push_back(out);
  m->graph.nodes.push_back(node);
  SessionOptions options;
  options.reference_kernels_only = true;
  options.num_threads = threads;
  Session session(Model(m), options);
  return session.run(inputs);
}

template <typename T>
std::vector<T> values(const Tensor& t) {
  return std::vector<T>(t.data<T>(), t.data<T>() + t.numel());
}

TEST(Broadcast, MultidirectionalShapes) {
  Tensor a = Tensor::from_vector<float>({2, 1, 3}, {1, 2, 3, 4, 5, 6});
  Tensor b = Tensor::from_vector<float>({4, 1}, {10, 20, 30, 40});
  Tensor y = run_op("Add", {a, b})[0];
  ASSERT_EQ(y.shape(), (Shape{2, 4, 3}));
  EXPECT_EQ(y.data<float>()[0], 11);
  EXPECT_EQ(y.data<float>()[3], 21);   // [0, 1, 0]
  EXPECT_EQ(y.data<float>()[14], 16);  // [1, 0, 2] = a[1, 0, 2] + b[0, 0]
  // Element [1, 3, 2] = a[1, 0, 2] + b[3, 0] = 6 + 40.
  EXPECT_EQ(y.data<float>()[23], 46);
}

TEST(Broadcast, ScalarAndEmpty) {
  Tensor a = Tensor::from_vector<int32_t>({3}, {1, 2, 3});
  Tensor s = Tensor::scalar<int32_t>(5);
  EXPECT_EQ(values<int32_t>(run_op("Mul", {s, a})[0]), (std::vector<int32_t>{5, 10, 15}));
  Tensor empty(DataType::kFloat, {0, 3});
  Tensor row = Tensor::from_vector<float>({1, 3}, {1, 2, 3});
  EXPECT_EQ(run_op("Sub", {empty, row})[0].shape(), (Shape{0, 3}));
  Tensor bad = Tensor::from_vector<float>({2}, {1, 2});
  EXPECT_THROW(run_op("Add", {row, bad}), Error);
}

TEST(Broadcast, LegacyAxisAttribute) {
  // Opset 6: B of shape [3] aligned to axis 1 of A [2, 3, 2].
  Tensor a = Tensor::zeros(DataType::kFloat, {2, 3, 2});
  Tensor b = Tensor::from_vector<float>({3}, {1, 2, 3});
  Tensor y = run_op("Add", {a, b}, {ir::make_int_attr("broadcast", 1), ir::make_int_attr("axis", 1)}, 6)[0];
  EXPECT_EQ(values<float>(y), (std::vector<float>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
}

TEST(Integer, DivTruncatesAndModFollowsDivisorSign) {
  Tensor a = Tensor::from_vector<int32_t>({4}, {7, -7, 7, -7});
  Tensor b = Tensor::from_vector<int32_t>({4}, {2, 2, -2, -2});
  EXPECT_EQ(values<int32_t>(run_op("Div", {a, b})[0]), (std::vector<int32_t>{3, -3, -3, 3}));
  EXPECT_EQ(values<int32_t>(run_op("Mod", {a, b})[0]), (std::vector<int32_t>{1, 1, -1, -1}));
  EXPECT_EQ(values<int32_t>(run_op("Mod", {a, b}, {ir::make_int_attr("fmod", 1)})[0]),
            (std::vector<int32_t>{1, -1, 1, -1}));
  Tensor zero = Tensor::from_vector<int32_t>({4}, {1, 0, 1, 1});
  EXPECT_THROW(run_op("Div", {a, zero}), Error);
  EXPECT_THROW(run_op("Mod", {a, zero}), Error);
}

TEST(Integer, PowMixedTypes) {
  Tensor base = Tensor::from_vector<int64_t>({3}, {2, 3, -2});
  Tensor e = Tensor::from_vector<int64_t>({3}, {40, 3, 3});
  EXPECT_EQ(values<int64_t>(run_op("Pow", {base, e})[0]), (std::vector<int64_t>{1LL << 40, 27, -8}));
  Tensor fbase = Tensor::from_vector<float>({2}, {2, 4});
  Tensor ie = Tensor::from_vector<int32_t>({2}, {3, -1});
  EXPECT_EQ(values<float>(run_op("Pow", {fbase, ie})[0]), (std::vector<float>{8, 0.25f}));
}

TEST(Cast, RoundsToNearestEven) {
  // 1 + 2^-8 is halfway between two bfloat16 values: ties go to the even mantissa (1.0).
  Tensor x = Tensor::from_vector<float>({3}, {1.00390625f, 1.01171875f, -2.5f});
  Tensor y = run_op("Cast", {x}, {ir::make_int_attr("to", static_cast<int64_t>(DataType::kBFloat16))})[0];
  ASSERT_EQ(y.dtype(), DataType::kBFloat16);
  EXPECT_EQ(y.data<BFloat16>()[0].bits, 0x3f80);  // 1.0
  EXPECT_EQ(y.data<BFloat16>()[1].bits, 0x3f82);  // 1.015625 (odd 0x3f81 rounds up to even)
  // double -> float16 in one rounding step: 1 + 2^-11 + 2^-40 is just above the tie, so it rounds up.
  Tensor d = Tensor::from_vector<double>({1}, {1.0 + std::ldexp(1.0, -11) + std::ldexp(1.0, -40)});
  Tensor h = run_op("Cast", {d}, {ir::make_int_attr("to", static_cast<int64_t>(DataType::kFloat16))})[0];
  EXPECT_EQ(h.data<Float16>()[0].bits, 0x3c01);
  // float -> int truncates toward zero; opset 1 names the type as a string.
  Tensor f = Tensor::from_vector<float>({3}, {2.7f, -2.7f, 0.5f});
  EXPECT_EQ(values<int32_t>(run_op("Cast", {f}, {ir::make_string_attr("to", "INT32")}, 1)[0]),
            (std::vector<int32_t>{2, -2, 0}));
}

TEST(Cast, StringsLikeNumpy) {
  Tensor f = Tensor::from_vector<float>({5}, {0.1f, 1.0f, 1e-5f, -2.5e20f, 123.25f});
  Tensor s = run_op("Cast", {f}, {ir::make_int_attr("to", static_cast<int64_t>(DataType::kString))})[0];
  EXPECT_EQ(values<std::string>(s), (std::vector<std::string>{"0.1", "1.0", "1e-05", "-2.5e+20", "123.25"}));
  Tensor t = Tensor::from_vector<std::string>({4}, {"1.5", "-INF", "NaN", "7"});
  Tensor back = run_op("Cast", {t}, {ir::make_int_attr("to", static_cast<int64_t>(DataType::kFloat))})[0];
  EXPECT_EQ(back.data<float>()[0], 1.5f);
  EXPECT_TRUE(std::isinf(back.data<float>()[1]) && back.data<float>()[1] < 0);
  EXPECT_TRUE(std::isnan(back.data<float>()[2]));
  EXPECT_EQ(back.data<float>()[3], 7.0f);
}

TEST(Threads, ResultsDoNotDependOnThreadCount) {
  std::vector<float> a(100003), b(100003);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)), b[i] = std::cos(static_cast<float>(i));
  Tensor ta = Tensor::from_vector<float>({100003}, a), tb = Tensor::from_vector<float>({100003}, b);
  for (const char* op : {"Add", "Div", "Mul"}) {
    Tensor one = run_op(op, {ta, tb}, {}, 17, 1)[0];
    Tensor two = run_op(op, {ta, tb}, {}, 17, 2)[0];
    EXPECT_EQ(values<float>(one), values<float>(two)) << op;
  }
  Tensor x = Tensor::from_vector<float>({1000, 100}, std::vector<float>(a.begin(), a.begin() + 100000));
  Tensor s1 = run_op("Softmax", {x}, {}, 17, 1)[0], s2 = run_op("Softmax", {x}, {}, 17, 2)[0];
  EXPECT_EQ(values<float>(s1), values<float>(s2));
}

TEST(Einsum, DiagonalAndImplicitOutput) {
  Tensor m = Tensor::from_vector<float>({3, 3}, {1, 2, 3, 4, 5, 6, 7, 8, 9});
  ir::Attribute eq = ir::make_string_attr("equation", "ii");
  EXPECT_EQ(values<float>(run_op("Einsum", {m}, {eq})[0]), (std::vector<float>{15}));
  eq.s = "ii->i";
  EXPECT_EQ(values<float>(run_op("Einsum", {m}, {eq})[0]), (std::vector<float>{1, 5, 9}));
  eq.s = "ji";  // implicit output is alphabetical: a transpose
  EXPECT_EQ(values<float>(run_op("Einsum", {m}, {eq})[0]), (std::vector<float>{1, 4, 7, 2, 5, 8, 3, 6, 9}));
  Tensor b = Tensor::from_vector<float>({2, 1, 3}, {1, 1, 1, 2, 2, 2});
  eq.s = "...j,ij->...i";
  Tensor y = run_op("Einsum", {b, m}, {eq})[0];
  ASSERT_EQ(y.shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(values<float>(y), (std::vector<float>{6, 15, 24, 12, 30, 48}));
}

TEST(Clip, IntegerBoundsFromInputs) {
  Tensor x = Tensor::from_vector<int8_t>({4}, {-100, -1, 5, 100});
  Tensor lo = Tensor::scalar<int8_t>(-2), hi = Tensor::scalar<int8_t>(10);
  EXPECT_EQ(values<int8_t>(run_op("Clip", {x, lo, hi})[0]), (std::vector<int8_t>{-2, -1, 5, 10}));
}

}  // namespace
}  // namespace quac
