// Targeted checks of the reference NN kernels (conv geometry, groups, error messages) through quac::Session.
#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <string>

#include "ir/graph.h"
#include "quac/model.h"
#include "quac/session.h"

namespace quac {
namespace {

// One-node model whose inputs are all graph inputs (so nothing is folded away) and whose outputs are `outputs`.
Model single_node_model(const std::string& op, const std::vector<std::string>& inputs,
                        const std::vector<std::string>& outputs, std::vector<ir::Attribute> attrs,
                        const std::string& name = "node0") {
  auto m = std::make_shared<ir::Model>();
  m->opset_imports[""] = 17;
  for (const auto& in : inputs) m->graph.inputs.push_back({in});
  for (const auto& out : outputs) m->graph.outputs.push_back({out});
  m->graph.nodes.push_back(ir::Node{name, op, "", inputs, outputs, std::move(attrs)});
  return Model(m);
}

std::vector<Tensor> run(Session& s, const std::vector<Tensor>& inputs) { return s.run(inputs); }

Tensor random_tensor(Shape shape, uint32_t seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(shape_numel(shape)));
  for (float& x : v) x = dist(gen);
  return Tensor::from_vector<float>(shape, v);
}

// Straightforward 2-D grouped convolution, the test's own oracle.
std::vector<float> naive_conv2d(const Tensor& x, const Tensor& w, const std::vector<float>& bias, int64_t group,
                                std::vector<int64_t> strides, std::vector<int64_t> dil, std::vector<int64_t> pads,
                                int64_t oh, int64_t ow) {
  const int64_t n_ = x.dim(0), c_ = x.dim(1), h_ = x.dim(2), w_ = x.dim(3), m_ = w.dim(0), kh = w.dim(2), kw = w.dim(3);
  const int64_t cpg = c_ / group, mpg = m_ / group;
  const float* xp = x.data<float>();
  const float* wp = w.data<float>();
  std::vector<float> y(static_cast<size_t>(n_ * m_ * oh * ow));
  for (int64_t n = 0; n < n_; ++n)
    for (int64_t m = 0; m < m_; ++m)
      for (int64_t i = 0; i < oh; ++i)
        for (int64_t j = 0; j < ow; ++j) {
          double acc = bias.empty() ? 0.0 : bias[static_cast<size_t>(m)];
          for (int64_t ci = 0; ci < cpg; ++ci)
            for (int64_t a = 0; a < kh; ++a)
              for (int64_t b = 0; b < kw; ++b) {
                int64_t hi = i * strides[0] - pads[0] + a * dil[0], wi = j * strides[1] - pads[1] + b * dil[1];
                if (hi < 0 || hi >= h_ || wi < 0 || wi >= w_) continue;
                int64_t c = (m / mpg) * cpg + ci;
                acc += static_cast<double>(xp[((n * c_ + c) * h_ + hi) * w_ + wi]) *
                       wp[((m * cpg + ci) * kh + a) * kw + b];
              }
          y[static_cast<size_t>(((n * m_ + m) * oh + i) * ow + j)] = static_cast<float>(acc);
        }
  return y;
}

void expect_near(const Tensor& actual, const std::vector<float>& expected) {
  ASSERT_EQ(actual.numel(), static_cast<int64_t>(expected.size()));
  for (size_t i = 0; i < expected.size(); ++i) EXPECT_NEAR(actual.data<float>()[i], expected[i], 1e-4) << i;
}

TEST(Conv, SameUpperAndLowerWithEvenKernel) {
  // 4x4 input of ones-to-sixteen, 2x2 kernel of ones: SAME pads one row/column, after (UPPER) or before (LOWER).
  std::vector<float> xv(16);
  for (int i = 0; i < 16; ++i) xv[static_cast<size_t>(i)] = static_cast<float>(i + 1);
  Tensor x = Tensor::from_vector<float>({1, 1, 4, 4}, xv);
  Tensor w = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 1, 1, 1});
  for (const char* mode : {"SAME_UPPER", "SAME_LOWER"}) {
    Session s(single_node_model("Conv", {"x", "w"}, {"y"}, {ir::make_string_attr("auto_pad", mode)}));
    Tensor y = run(s, {x, w})[0];
    ASSERT_EQ(y.shape(), (Shape{1, 1, 4, 4})) << mode;
    const int64_t shift = std::string(mode) == "SAME_UPPER" ? 0 : -1;
    std::vector<float> expected(16, 0.0f);
    for (int64_t i = 0; i < 4; ++i)
      for (int64_t j = 0; j < 4; ++j)
        for (int64_t a = 0; a < 2; ++a)
          for (int64_t b = 0; b < 2; ++b) {
            int64_t r = i + shift + a, c = j + shift + b;
            if (r >= 0 && r < 4 && c >= 0 && c < 4)
              expected[static_cast<size_t>(i * 4 + j)] += xv[static_cast<size_t>(r * 4 + c)];
          }
    expect_near(y, expected);
  }
}

TEST(Conv, StridedDilatedAsymmetricPadsMatchNaive) {
  Tensor x = random_tensor({2, 3, 9, 11}, 1);
  Tensor w = random_tensor({4, 3, 3, 2}, 2);
  Tensor b = random_tensor({4}, 3);
  Session s(single_node_model("Conv", {"x", "w", "b"}, {"y"},
                              {ir::make_ints_attr("strides", {2, 3}), ir::make_ints_attr("dilations", {2, 1}),
                               ir::make_ints_attr("pads", {1, 0, 2, 1})}));
  Tensor y = run(s, {x, w, b})[0];
  // (9 + 1 + 2 - 5) / 2 + 1 = 4, (11 + 0 + 1 - 2) / 3 + 1 = 4
  ASSERT_EQ(y.shape(), (Shape{2, 4, 4, 4}));
  expect_near(y, naive_conv2d(x, w, b.to_float_vector(), 1, {2, 3}, {2, 1}, {1, 0}, 4, 4));
}

TEST(Conv, GroupedEqualsSeparateConvsPerGroup) {
  Tensor x = random_tensor({1, 4, 6, 5}, 4);
  Tensor w = random_tensor({6, 2, 3, 3}, 5);
  Session grouped(single_node_model("Conv", {"x", "w"}, {"y"},
                                    {ir::make_int_attr("group", 2), ir::make_ints_attr("pads", {1, 1, 1, 1})}));
  Tensor y = run(grouped, {x, w})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 6, 6, 5}));
  Session single(single_node_model("Conv", {"x", "w"}, {"y"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}));
  const int64_t x_half = 2 * 6 * 5, w_half = 3 * 2 * 9, y_half = 3 * 6 * 5;
  for (int64_t g = 0; g < 2; ++g) {
    std::vector<float> xs(x.data<float>() + g * x_half, x.data<float>() + (g + 1) * x_half);
    std::vector<float> ws(w.data<float>() + g * w_half, w.data<float>() + (g + 1) * w_half);
    Tensor part =
        run(single, {Tensor::from_vector<float>({1, 2, 6, 5}, xs), Tensor::from_vector<float>({3, 2, 3, 3}, ws)})[0];
    for (int64_t i = 0; i < y_half; ++i) EXPECT_NEAR(y.data<float>()[g * y_half + i], part.data<float>()[i], 1e-5);
  }
  // Depthwise: one input channel per group.
  Tensor wd = random_tensor({4, 1, 3, 3}, 6);
  Session depthwise(single_node_model("Conv", {"x", "w"}, {"y"}, {ir::make_int_attr("group", 4)}));
  expect_near(run(depthwise, {x, wd})[0], naive_conv2d(x, wd, {}, 4, {1, 1}, {1, 1}, {0, 0}, 4, 3));
}

TEST(Conv, MalformedWeightNamesTheNode) {
  Session s(single_node_model("Conv", {"x", "w"}, {"y"}, {}, "bad_conv"));
  try {
    run(s, {random_tensor({1, 2, 5, 5}, 7), random_tensor({1, 3, 3, 3}, 8)});
    FAIL() << "expected quac::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("bad_conv"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("weight W"), std::string::npos) << e.what();
  }
}

TEST(ConvTranspose, InvertsStridedConvShape) {
  // Scattering one impulse per input position with a kernel of ones: each output counts covering windows.
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 2}, {1, 1, 1, 1});
  Tensor w = Tensor::from_vector<float>({1, 1, 3, 3}, std::vector<float>(9, 1.0f));
  Session s(single_node_model("ConvTranspose", {"x", "w"}, {"y"}, {ir::make_ints_attr("strides", {2, 2})}));
  Tensor y = run(s, {x, w})[0];
  ASSERT_EQ(y.shape(), (Shape{1, 1, 5, 5}));
  const float row_counts[5] = {1, 1, 2, 1, 1};
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 5; ++j) EXPECT_EQ(y.data<float>()[i * 5 + j], row_counts[i] * row_counts[j]);
}

TEST(MaxPool, IndicesInBothStorageOrders) {
  Tensor x = Tensor::from_vector<float>({1, 1, 2, 3}, {1, 9, 2, 3, 4, 8});
  for (int64_t order : {0, 1}) {
    Session s(
        single_node_model("MaxPool", {"x"}, {"y", "i"},
                          {ir::make_ints_attr("kernel_shape", {2, 2}), ir::make_int_attr("storage_order", order)}));
    auto out = run(s, {x});
    ASSERT_EQ(out[0].shape(), (Shape{1, 1, 1, 2}));
    EXPECT_EQ(out[0].data<float>()[0], 9.0f);
    EXPECT_EQ(out[0].data<float>()[1], 9.0f);
    // 9 sits at (h=0, w=1): row-major offset 1, column-major offset 0 + 1 * 2 = 2.
    EXPECT_EQ(out[1].data<int64_t>()[0], order == 0 ? 1 : 2);
  }
}

TEST(Pool, KernelLargerThanInputIsAnErrorNamingTheNode) {
  Session s(single_node_model("AveragePool", {"x"}, {"y"}, {ir::make_ints_attr("kernel_shape", {4, 4})}, "big_pool"));
  try {
    run(s, {random_tensor({1, 1, 3, 3}, 9)});
    FAIL() << "expected quac::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("big_pool"), std::string::npos) << e.what();
  }
}

TEST(NonMaxSuppression, KeepsBestBoxPerOverlapCluster) {
  // Boxes 0 and 1 overlap heavily (IoU 0.9); box 2 is apart. Box 1 scores highest.
  Tensor boxes = Tensor::from_vector<float>({1, 3, 4}, {0, 0, 10, 10, 0, 1, 10, 10, 20, 20, 30, 30});
  Tensor scores = Tensor::from_vector<float>({1, 1, 3}, {0.5f, 0.9f, 0.3f});
  Tensor max_out = Tensor::from_vector<int64_t>({1}, {10});
  Tensor iou = Tensor::from_vector<float>({1}, {0.5f});
  Session s(single_node_model("NonMaxSuppression", {"b", "s", "m", "i"}, {"sel"}, {}));
  Tensor sel = run(s, {boxes, scores, max_out, iou})[0];
  ASSERT_EQ(sel.shape(), (Shape{2, 3}));
  EXPECT_EQ(sel.data<int64_t>()[2], 1);
  EXPECT_EQ(sel.data<int64_t>()[5], 2);
}

TEST(Conv, Float16IsComputedInFloat) {
  Tensor x = random_tensor({1, 2, 5, 5}, 10), w = random_tensor({3, 2, 3, 3}, 11);
  auto to_half = [](const Tensor& t) {
    Tensor h(DataType::kFloat16, t.shape());
    for (int64_t i = 0; i < t.numel(); ++i) static_cast<uint16_t*>(h.raw_data())[i] = float_to_half(t.data<float>()[i]);
    return h;
  };
  Session s(single_node_model("Conv", {"x", "w"}, {"y"}, {ir::make_ints_attr("pads", {1, 1, 1, 1})}));
  Tensor expected = run(s, {x, w})[0];
  Tensor y = run(s, {to_half(x), to_half(w)})[0];
  ASSERT_EQ(y.dtype(), DataType::kFloat16);
  ASSERT_EQ(y.shape(), expected.shape());
  for (int64_t i = 0; i < y.numel(); ++i) EXPECT_NEAR(y.scalar_as_double(i), expected.data<float>()[i], 2e-2) << i;
}

}  // namespace
}  // namespace quac
