// Targeted checks of the linear-algebra and quantization reference kernels, on tiny models built in memory.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quac/error.h"
#include "quac/model.h"
#include "quac/session.h"
#include "quac/tensor.h"

namespace quac {
namespace {

// One node whose inputs are graph inputs (fed at run time) or initializers, at the given opset.
struct OneNodeModel {
  explicit OneNodeModel(std::string op_type, int64_t opset = 17) {
    model->opset_imports[""] = opset;
    node.name = "n0";
    node.op_type = std::move(op_type);
  }
  OneNodeModel& input(const std::string& name) {
    model->graph.inputs.push_back({name});
    node.inputs.push_back(name);
    return *this;
  }
  OneNodeModel& constant(const std::string& name, Tensor value) {
    model->graph.initializers[name] = std::move(value);
    node.inputs.push_back(name);
    return *this;
  }
  OneNodeModel& attr(ir::Attribute a) {
    node.attributes.push_back(std::move(a));
    return *this;
  }
  std::vector<Tensor> run(const std::vector<Tensor>& feeds, int num_threads = 1) {
    node.outputs = {"y"};
    model->graph.outputs = {{"y"}};
    model->graph.nodes = {node};
    SessionOptions options;
    options.num_threads = num_threads;
    options.reference_kernels_only = true;
    Session session(Model(model), options);
    return session.run(feeds);
  }

  std::shared_ptr<ir::Model> model = std::make_shared<ir::Model>();
  ir::Node node;
};

TEST(QuantizeLinear, RoundsHalfToEvenAndSaturates) {
  std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 300.0f, -300.0f, 2.4f};
  Tensor xt = Tensor::from_vector<float>({8}, x);
  // uint8, zero point 0: halves go to the even neighbour, out-of-range values clamp to [0, 255].
  auto u8 = OneNodeModel("QuantizeLinear", 13)
                .input("x")
                .constant("scale", Tensor::scalar<float>(1.0f))
                .constant("zp", Tensor::scalar<uint8_t>(0))
                .run({xt});
  const uint8_t* u = u8[0].data<uint8_t>();
  EXPECT_EQ(std::vector<int>(u, u + 8), (std::vector<int>{0, 2, 2, 0, 0, 255, 0, 2}));
  // int8, zero point 1: round first, then add the zero point, then saturate to [-128, 127].
  auto s8 = OneNodeModel("QuantizeLinear", 13)
                .input("x")
                .constant("scale", Tensor::scalar<float>(1.0f))
                .constant("zp", Tensor::scalar<int8_t>(1))
                .run({xt});
  const int8_t* s = s8[0].data<int8_t>();
  EXPECT_EQ(std::vector<int>(s, s + 8), (std::vector<int>{1, 3, 3, 1, -1, 127, -128, 3}));
  // Without a zero point the output is uint8.
  auto def = OneNodeModel("QuantizeLinear", 10).input("x").constant("scale", Tensor::scalar<float>(2.0f)).run({xt});
  ASSERT_EQ(def[0].dtype(), DataType::kUInt8);
  EXPECT_EQ(def[0].data<uint8_t>()[2], 1);  // 2.5 / 2 = 1.25 -> 1
  EXPECT_EQ(def[0].data<uint8_t>()[1], 1);  // 1.5 / 2 = 0.75 -> 1
}

TEST(DequantizeLinear, PerAxis) {
  // x is [2, 3, 2]; axis 1 carries three scales and zero points.
  std::vector<int8_t> x = {1, 2, 3, 4, 5, 6, -1, -2, -3, -4, -5, -6};
  auto out = OneNodeModel("DequantizeLinear", 13)
                 .input("x")
                 .constant("scale", Tensor::from_vector<float>({3}, {1.0f, 0.5f, 2.0f}))
                 .constant("zp", Tensor::from_vector<int8_t>({3}, {0, 2, -1}))
                 .attr(ir::make_int_attr("axis", 1))
                 .run({Tensor::from_vector<int8_t>({2, 3, 2}, x)});
  ASSERT_EQ(out[0].shape(), (Shape{2, 3, 2}));
  std::vector<float> want = {1, 2, 0.5f, 1, 12, 14, -1, -2, -2.5f, -3, -8, -10};
  for (size_t i = 0; i < want.size(); ++i) EXPECT_FLOAT_EQ(out[0].data<float>()[i], want[i]) << i;
}

TEST(DequantizeLinear, Int32Input) {
  auto out = OneNodeModel("DequantizeLinear", 13)
                 .input("x")
                 .constant("scale", Tensor::scalar<float>(0.25f))
                 .run({Tensor::from_vector<int32_t>({3}, {-1000000, 0, 7})});
  EXPECT_FLOAT_EQ(out[0].data<float>()[0], -250000.0f);
  EXPECT_FLOAT_EQ(out[0].data<float>()[2], 1.75f);
}

TEST(QLinearConv, PerChannelWeightsGroupsPaddingAndStride) {
  // x [1, 2, 4, 4] uint8; w [4, 1, 3, 3] int8 in 2 groups (output channels 0-1 read input channel 0, 2-3 read 1)
  // with per-output-channel scales and zero points; pads 1, strides 2 -> y [1, 4, 2, 2].
  std::vector<uint8_t> x(32);
  std::vector<int8_t> w(36);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<uint8_t>(i * 37 % 256);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<int8_t>(static_cast<int>(i * 11 % 41) - 20);
  std::vector<float> w_scale = {0.01f, 0.02f, 0.03f, 0.04f};
  std::vector<int8_t> w_zp = {0, 1, -2, 3};
  std::vector<int32_t> bias = {10, -20, 30, -40};
  auto out = OneNodeModel("QLinearConv", 10)
                 .input("x")
                 .constant("x_scale", Tensor::scalar<float>(0.05f))
                 .constant("x_zp", Tensor::scalar<uint8_t>(128))
                 .constant("w", Tensor::from_vector<int8_t>({4, 1, 3, 3}, w))
                 .constant("w_scale", Tensor::from_vector<float>({4}, w_scale))
                 .constant("w_zp", Tensor::from_vector<int8_t>({4}, w_zp))
                 .constant("y_scale", Tensor::scalar<float>(0.1f))
                 .constant("y_zp", Tensor::scalar<uint8_t>(100))
                 .constant("B", Tensor::from_vector<int32_t>({4}, bias))
                 .attr(ir::make_int_attr("group", 2))
                 .attr(ir::make_ints_attr("pads", {1, 1, 1, 1}))
                 .attr(ir::make_ints_attr("strides", {2, 2}))
                 .run({Tensor::from_vector<uint8_t>({1, 2, 4, 4}, x)});
  ASSERT_EQ(out[0].shape(), (Shape{1, 4, 2, 2}));
  for (int m = 0; m < 4; ++m)
    for (int oy = 0; oy < 2; ++oy)
      for (int ox = 0; ox < 2; ++ox) {
        int32_t acc = bias[m];
        for (int ky = 0; ky < 3; ++ky)
          for (int kx = 0; kx < 3; ++kx) {
            int iy = oy * 2 - 1 + ky, ix = ox * 2 - 1 + kx;
            if (iy < 0 || iy >= 4 || ix < 0 || ix >= 4) continue;
            acc += (x[(m / 2) * 16 + iy * 4 + ix] - 128) * (w[m * 9 + ky * 3 + kx] - w_zp[m]);
          }
        float multiplier = 0.05f * w_scale[m] / 0.1f;
        double want = std::clamp(std::nearbyint(acc * static_cast<double>(multiplier)) + 100, 0.0, 255.0);
        EXPECT_EQ(out[0].data<uint8_t>()[(m * 2 + oy) * 2 + ox], want) << m << " " << oy << " " << ox;
      }
}

TEST(QLinearMatMul, PerColumnWeights) {
  std::vector<uint8_t> a = {0, 5, 200, 17, 255, 9};
  std::vector<int8_t> b = {-7, 100, 3, -128, 127, 0};
  std::vector<float> b_scale = {0.2f, 0.05f};
  std::vector<int8_t> b_zp = {1, -1};
  auto out = OneNodeModel("QLinearMatMul", 10)
                 .input("a")
                 .constant("a_scale", Tensor::scalar<float>(0.1f))
                 .constant("a_zp", Tensor::scalar<uint8_t>(5))
                 .constant("b", Tensor::from_vector<int8_t>({3, 2}, b))
                 .constant("b_scale", Tensor::from_vector<float>({2}, b_scale))
                 .constant("b_zp", Tensor::from_vector<int8_t>({2}, b_zp))
                 .constant("y_scale", Tensor::scalar<float>(0.3f))
                 .constant("y_zp", Tensor::scalar<int8_t>(-3))
                 .run({Tensor::from_vector<uint8_t>({2, 3}, a)});
  ASSERT_EQ(out[0].dtype(), DataType::kInt8);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 2; ++j) {
      int32_t acc = 0;
      for (int k = 0; k < 3; ++k) acc += (a[i * 3 + k] - 5) * (b[k * 2 + j] - b_zp[j]);
      float multiplier = 0.1f * b_scale[j] / 0.3f;
      double want = std::clamp(std::nearbyint(acc * static_cast<double>(multiplier)) - 3, -128.0, 127.0);
      EXPECT_EQ(out[0].data<int8_t>()[i * 2 + j], want) << i << " " << j;
    }
}

TEST(Gemm, Float16TransposedWithBroadcastBias) {
  // Y = 0.5 * A * B^T + 2 * C, A [2, 3], B [4, 3], C [2, 1] broadcast over columns; computed in float.
  std::vector<float> a = {1, 2, 3, -1, 0.5f, 2}, b(12), c = {1, -1};
  for (size_t i = 0; i < b.size(); ++i) b[i] = static_cast<float>(i) * 0.25f - 1.0f;
  auto half = [](const Shape& shape, const std::vector<float>& v) {
    std::vector<Float16> h;
    for (float f : v) h.push_back({float_to_half(f)});
    return Tensor::from_vector<Float16>(shape, h);
  };
  ir::Attribute alpha, beta;
  alpha.name = "alpha";
  alpha.kind = beta.kind = ir::Attribute::Kind::kFloat;
  alpha.f = 0.5f;
  beta.name = "beta";
  beta.f = 2.0f;
  auto out = OneNodeModel("Gemm", 13)
                 .input("a")
                 .input("b")
                 .input("c")
                 .attr(ir::make_int_attr("transB", 1))
                 .attr(alpha)
                 .attr(beta)
                 .run({half({2, 3}, a), half({4, 3}, b), half({2, 1}, c)});
  ASSERT_EQ(out[0].dtype(), DataType::kFloat16);
  ASSERT_EQ(out[0].shape(), (Shape{2, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      float want = 2.0f * c[i];
      for (int k = 0; k < 3; ++k) want += 0.5f * a[i * 3 + k] * b[j * 3 + k];
      EXPECT_NEAR(half_to_float(out[0].data<Float16>()[i * 4 + j].bits), want, 1e-2f) << i << " " << j;
    }
}

TEST(MatMul, BroadcastsBatchDims) {
  // a: [2, 1, 2, 3], b: [3, 3, 2] -> [2, 3, 2, 2]; every batch pair is checked against a naive product.
  Shape a_shape{2, 1, 2, 3}, b_shape{3, 3, 2};
  std::vector<float> a(12), b(18);
  for (size_t i = 0; i < a.size(); ++i) a[i] = static_cast<float>(i) - 5.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = 0.5f * static_cast<float>(i % 7) - 1.0f;
  for (int threads : {1, 2}) {
    auto out = OneNodeModel("MatMul").input("a").input("b").run(
        {Tensor::from_vector<float>(a_shape, a), Tensor::from_vector<float>(b_shape, b)}, threads);
    ASSERT_EQ(out[0].shape(), (Shape{2, 3, 2, 2}));
    const float* y = out[0].data<float>();
    for (int p = 0; p < 2; ++p)
      for (int q = 0; q < 3; ++q)
        for (int i = 0; i < 2; ++i)
          for (int j = 0; j < 2; ++j) {
            float want = 0;
            for (int k = 0; k < 3; ++k) want += a[p * 6 + i * 3 + k] * b[q * 6 + k * 2 + j];
            EXPECT_FLOAT_EQ(y[((p * 3 + q) * 2 + i) * 2 + j], want);
          }
  }
}

TEST(MatMul, ResultDoesNotDependOnThreadCount) {
  // Large enough that the rows are split over threads; every element must come out bit-identical.
  Shape a_shape{3, 67, 96}, b_shape{96, 80};
  std::vector<float> a(3 * 67 * 96), b(96 * 80);
  for (size_t i = 0; i < a.size(); ++i) a[i] = std::sin(static_cast<float>(i)) * 3.0f;
  for (size_t i = 0; i < b.size(); ++i) b[i] = std::cos(static_cast<float>(i) * 0.7f);
  std::vector<Tensor> feeds = {Tensor::from_vector<float>(a_shape, a), Tensor::from_vector<float>(b_shape, b)};
  auto one = OneNodeModel("MatMul").input("a").input("b").run(feeds, 1);
  auto two = OneNodeModel("MatMul").input("a").input("b").run(feeds, 2);
  ASSERT_EQ(one[0].shape(), (Shape{3, 67, 80}));
  EXPECT_EQ(std::memcmp(one[0].raw_data(), two[0].raw_data(), one[0].nbytes()), 0);
  // And it is the float sum over k (near, not equal: the compiler may contract to FMA in one place only).
  for (int64_t r : {0, 66, 133, 200})
    for (int64_t j : {0, 41, 79}) {
      float want = 0;
      for (int64_t k = 0; k < 96; ++k) want += a[r * 96 + k] * b[k * 80 + j];
      EXPECT_NEAR(one[0].data<float>()[r * 80 + j], want, 1e-4f * (1 + std::fabs(want))) << r << " " << j;
    }
}

TEST(MatMul, OneDimensionalOperands) {
  auto out = OneNodeModel("MatMul").input("a").input("b").run(
      {Tensor::from_vector<float>({3}, {1, 2, 3}),
       Tensor::from_vector<float>({2, 3, 2}, {1, 0, 0, 1, 1, 1, 2, 0, 0, 2, 1, 1})});
  ASSERT_EQ(out[0].shape(), (Shape{2, 2}));
  EXPECT_FLOAT_EQ(out[0].data<float>()[0], 4.0f);
  EXPECT_FLOAT_EQ(out[0].data<float>()[3], 7.0f);
}

TEST(MatMul, ShapeMismatchNamesTheNode) {
  OneNodeModel m("MatMul");
  m.input("a").input("b");
  try {
    m.run({Tensor::zeros(DataType::kFloat, {2, 3}), Tensor::zeros(DataType::kFloat, {4, 2})});
    FAIL() << "expected quac::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("n0"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("[2,3]"), std::string::npos) << e.what();
  }
}

TEST(Reduce, NonAdjacentAxesAnyThreadCount) {
  // [2, 3, 4, 5] reduced over axes {0, 2} (kept dims 1 and 3 interleave with reduced ones).
  std::vector<float> x(120);
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<float>((i * 7) % 11) - 5.0f;
  for (int threads : {1, 2}) {
    auto out = OneNodeModel("ReduceSumSquare", 11)
                   .input("x")
                   .attr(ir::make_ints_attr("axes", {2, 0}))
                   .run({Tensor::from_vector<float>({2, 3, 4, 5}, x)}, threads);
    ASSERT_EQ(out[0].shape(), (Shape{1, 3, 1, 5}));
    for (int c = 0; c < 3; ++c)
      for (int e = 0; e < 5; ++e) {
        float want = 0;
        for (int a = 0; a < 2; ++a)
          for (int k = 0; k < 4; ++k) {
            float v = x[((a * 3 + c) * 4 + k) * 5 + e];
            want += v * v;
          }
        EXPECT_FLOAT_EQ(out[0].data<float>()[c * 5 + e], want) << c << " " << e;
      }
  }
}

TEST(LinalgQuant, BadInputsThrowInsteadOfCrashing) {
  auto f = [](const Shape& shape) { return Tensor::zeros(DataType::kFloat, shape); };
  auto u8 = [](const Shape& shape) { return Tensor::zeros(DataType::kUInt8, shape); };
  EXPECT_THROW(OneNodeModel("Gemm").input("a").input("b").run({f({2, 3}), f({4, 5})}), Error);
  EXPECT_THROW(OneNodeModel("Gemm").input("a").input("b").input("c").run({f({2, 3}), f({3, 4}), f({3, 4})}), Error);
  EXPECT_THROW(OneNodeModel("ReduceMean", 11).input("x").attr(ir::make_ints_attr("axes", {5})).run({f({2, 3})}), Error);
  EXPECT_THROW(OneNodeModel("ReduceMean", 11).input("x").attr(ir::make_ints_attr("axes", {1, -1})).run({f({2, 3})}),
               Error);
  EXPECT_THROW(OneNodeModel("Det").input("x").run({f({2, 3})}), Error);
  EXPECT_THROW(OneNodeModel("DequantizeLinear", 13)
                   .input("x")
                   .constant("scale", Tensor::from_vector<float>({2}, {1, 2}))
                   .run({u8({2, 3})}),
               Error);
  EXPECT_THROW(OneNodeModel("MatMulInteger", 10)
                   .input("a")
                   .input("b")
                   .constant("a_zp", Tensor::from_vector<uint8_t>({3}, {1, 2, 3}))
                   .run({u8({2, 4}), u8({4, 2})}),
               Error);
  EXPECT_THROW(OneNodeModel("ConvInteger", 10).input("x").input("w").run({u8({1, 1, 4, 4}), u8({1, 1, 3})}), Error);
  EXPECT_THROW(OneNodeModel("ConvInteger", 10)
                   .input("x")
                   .input("w")
                   .attr(ir::make_ints_attr("pads", {1, 1}))
                   .run({u8({1, 1, 4, 4}), u8({1, 1, 3, 3})}),
               Error);
  EXPECT_THROW(OneNodeModel("ConvInteger", 10)
                   .input("x")
                   .input("w")
                   .attr(ir::make_ints_attr("strides", {0, 1}))
                   .run({u8({1, 1, 4, 4}), u8({1, 1, 3, 3})}),
               Error);
}

TEST(ReduceSum, EmptySetGivesIdentityAndNoopKeepsInput) {
  Tensor x = Tensor::zeros(DataType::kFloat, {2, 0, 3});
  auto sum = OneNodeModel("ReduceSum", 13).input("x").constant("axes", Tensor::from_vector<int64_t>({1}, {1})).run({x});
  ASSERT_EQ(sum[0].shape(), (Shape{2, 1, 3}));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(sum[0].data<float>()[i], 0.0f);
  ir::Attribute axes;
  axes.name = "axes";
  axes.kind = ir::Attribute::Kind::kInts;
  axes.ints = {1};
  auto mx = OneNodeModel("ReduceMax", 13).input("x").attr(axes).attr(ir::make_int_attr("keepdims", 0)).run({x});
  ASSERT_EQ(mx[0].shape(), (Shape{2, 3}));
  EXPECT_TRUE(std::isinf(mx[0].data<float>()[0]) && mx[0].data<float>()[0] < 0);
  Tensor y = Tensor::from_vector<int32_t>({2, 2}, {1, 2, 3, 4});
  auto noop = OneNodeModel("ReduceSum", 13).input("x").attr(ir::make_int_attr("noop_with_empty_axes", 1)).run({y});
  EXPECT_EQ(noop[0].shape(), (Shape{2, 2}));
  auto all = OneNodeModel("ReduceSum", 13).input("x").run({y});
  EXPECT_EQ(all[0].shape(), (Shape{1, 1}));
  EXPECT_EQ(all[0].data<int32_t>()[0], 10);
}

}  // namespace
}  // namespace quac
