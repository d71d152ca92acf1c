// Import/export: hostile and malformed model files give one clear quac::Error, never a crash; export is accepted by
// the ONNX checker and loads back to the same graph.
#include "ir/onnx/onnx_io.h"

#include <gtest/gtest.h>
#include <onnx/checker.h>
#include <onnx/onnx_pb.h>

#include <filesystem>
#include <random>

#include "core/file_util.h"
#include "quac/session.h"

namespace quac {
namespace {
namespace fs = std::filesystem;

const char* kTestData = "/usr/share/libonnx-testdata/data";

fs::path temp_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("quac_onnx_io_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// A model y = Identity(w) where w is an initializer, optionally stored as external data at `location`.
onnx::ModelProto identity_of_weight(const std::string& location) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* w = g->add_initializer();
  w->set_name("w");
  w->set_data_type(onnx::TensorProto::FLOAT);
  w->add_dims(4);
  if (location.empty()) {
    for (int i = 0; i < 4; ++i) w->add_float_data(static_cast<float>(i));
  } else {
    w->set_data_location(onnx::TensorProto::EXTERNAL);
    auto* kv = w->add_external_data();
    kv->set_key("location");
    kv->set_value(location);
  }
  auto* n = g->add_node();
  n->set_op_type("Identity");
  n->set_name("id");
  n->add_input("w");
  n->add_output("y");
  auto* y = g->add_output();
  y->set_name("y");
  y->mutable_type()->mutable_tensor_type()->set_elem_type(onnx::TensorProto::FLOAT);
  return m;
}

void write_proto(const onnx::ModelProto& m, const fs::path& path) {
  write_file_atomic(path.string(), m.SerializeAsString());
}

std::string error_of(const std::function<void()>& fn, ErrorCode* code = nullptr) {
  try {
    fn();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

TEST(OnnxImport, MissingFileNamesThePath) {
  ErrorCode code;
  std::string msg = error_of([] { load_model("/nonexistent/model.onnx"); }, &code);
  EXPECT_EQ(code, ErrorCode::kIoError);
  EXPECT_NE(msg.find("/nonexistent/model.onnx"), std::string::npos) << msg;
}

TEST(OnnxImport, TruncatedAndRandomBytesAreErrors) {
  std::string bytes = read_file(std::string(kTestData) + "/node/test_conv_with_strides_padding/model.onnx");
  int errors = 0;
  for (size_t len = 0; len < bytes.size(); len += 7) {
    try {
      onnx_io::load_model_bytes(bytes.substr(0, len), "", "truncated.onnx");
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("truncated.onnx"), std::string::npos);
      ++errors;
    }
  }
  EXPECT_GT(errors, 0);
  std::mt19937 rng(42);
  for (int trial = 0; trial < 200; ++trial) {
    std::string junk(static_cast<size_t>(rng() % 512), '\0');
    for (auto& c : junk) c = static_cast<char>(rng());
    try {
      onnx_io::load_model_bytes(junk, "", "junk.onnx");
    } catch (const Error&) {
    }
  }
}

// Inputs the fuzzer once found crashing (or exhausting memory) stay as regression tests: each must load or throw
// quac::Error, nothing else.
TEST(OnnxImport, FuzzRegressions) {
  fs::path dir = fs::path(QUAC_SOURCE_DIR) / "tests/data/fuzz_regressions";
  int count = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    ++count;
    try {
      onnx_io::load_model_file(entry.path().string());
    } catch (const Error&) {
    }
  }
  EXPECT_GT(count, 0);
}

TEST(OnnxImport, DeclaredShapeWithoutDataIsRefusedBeforeAllocating) {
  onnx::ModelProto m = identity_of_weight("");
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_dims();
  w->add_dims(1 << 20);
  w->add_dims(1 << 20);  // 2^40 floats declared, 4 present
  std::string msg = error_of([&] { onnx_io::load_model_bytes(m.SerializeAsString(), "", "huge.onnx"); });
  EXPECT_NE(msg.find("tensor 'w'"), std::string::npos) << msg;
}

TEST(OnnxImport, ExternalDataInsideFolderLoads) {
  fs::path dir = temp_dir("ext_ok");
  float values[4] = {1, 2, 3, 4};
  write_file_atomic((dir / "weights.bin").string(), std::string(reinterpret_cast<char*>(values), sizeof values));
  write_proto(identity_of_weight("weights.bin"), dir / "m.onnx");
  Model model = load_model((dir / "m.onnx").string());
  Session session(model);
  auto out = session.run(std::vector<Tensor>{});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].data<float>()[3], 4.0f);
}

TEST(OnnxImport, ExternalDataEscapingTheFolderIsRefused) {
  fs::path dir = temp_dir("ext_escape");
  fs::create_directories(dir / "model");
  write_file_atomic((dir / "secret.bin").string(), std::string(16, 'x'));
  write_proto(identity_of_weight("../secret.bin"), dir / "model" / "m.onnx");
  std::string msg = error_of([&] { load_model((dir / "model" / "m.onnx").string()); });
  EXPECT_NE(msg.find("escapes the model's folder"), std::string::npos) << msg;
  EXPECT_NE(msg.find("tensor 'w'"), std::string::npos) << msg;
  write_proto(identity_of_weight((dir / "secret.bin").string()), dir / "model" / "abs.onnx");
  msg = error_of([&] { load_model((dir / "model" / "abs.onnx").string()); });
  EXPECT_NE(msg.find("absolute"), std::string::npos) << msg;
}

TEST(OnnxImport, MissingOrShortExternalDataIsAnError) {
  fs::path dir = temp_dir("ext_missing");
  write_proto(identity_of_weight("nothere.bin"), dir / "m.onnx");
  std::string msg = error_of([&] { load_model((dir / "m.onnx").string()); });
  EXPECT_NE(msg.find("nothere.bin"), std::string::npos) << msg;
  write_file_atomic((dir / "short.bin").string(), "abc");
  write_proto(identity_of_weight("short.bin"), dir / "s.onnx");
  msg = error_of([&] { load_model((dir / "s.onnx").string()); });
  EXPECT_NE(msg.find("does not fit"), std::string::npos) << msg;
}

TEST(OnnxImport, RawDataSizeMismatchNamesTheTensor) {
  onnx::ModelProto m = identity_of_weight("");
  auto* w = m.mutable_graph()->mutable_initializer(0);
  w->clear_float_data();
  w->set_raw_data(std::string(12, '\0'));  // 3 floats for a shape of 4
  std::string msg = error_of([&] { onnx_io::load_model_bytes(m.SerializeAsString(), "", "bad.onnx"); });
  EXPECT_NE(msg.find("tensor 'w'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("bad.onnx"), std::string::npos) << msg;
}

TEST(Session, UnknownOpNamesNodeAndOp) {
  onnx::ModelProto m = identity_of_weight("");
  m.mutable_graph()->mutable_node(0)->set_op_type("FrobnicateV2");
  Model model(onnx_io::load_model_bytes(m.SerializeAsString(), "", "unknown.onnx"));
  ErrorCode code;
  std::string msg = error_of([&] { Session s(model); }, &code);
  EXPECT_EQ(code, ErrorCode::kUnsupported);
  EXPECT_NE(msg.find("FrobnicateV2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'id'"), std::string::npos) << msg;
  m.mutable_graph()->mutable_node(0)->set_op_type("Identity");
  m.mutable_graph()->mutable_node(0)->set_domain("com.example");
  msg = error_of([&] { onnx_io::load_model_bytes(m.SerializeAsString(), "", "domain.onnx"); });
  EXPECT_NE(msg.find("com.example"), std::string::npos) << msg;
}

TEST(Session, WrongInputNameShapeOrTypeIsInvalidArgument) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(13);
  auto* g = m.mutable_graph();
  auto* x = g->add_input();
  x->set_name("x");
  auto* tt = x->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(onnx::TensorProto::FLOAT);
  tt->mutable_shape()->add_dim()->set_dim_param("N");
  tt->mutable_shape()->add_dim()->set_dim_value(3);
  auto* n = g->add_node();
  n->set_op_type("Identity");
  n->add_input("x");
  n->add_output("y");
  g->add_output()->set_name("y");
  Model model(onnx_io::load_model_bytes(m.SerializeAsString(), "", "shapes.onnx"));
  Session session(model);
  EXPECT_NO_THROW(session.run(std::vector<Tensor>{Tensor::zeros(DataType::kFloat, {5, 3})}));
  ErrorCode code;
  std::string msg = error_of([&] { session.run(std::vector<Tensor>{Tensor::zeros(DataType::kFloat, {5, 4})}); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument);
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("[N,3]"), std::string::npos) << msg;
  msg = error_of([&] { session.run(std::vector<Tensor>{Tensor::zeros(DataType::kInt64, {5, 3})}); });
  EXPECT_NE(msg.find("float32"), std::string::npos) << msg;
  msg = error_of([&] { session.run(std::map<std::string, Tensor>{{"z", Tensor::zeros(DataType::kFloat, {1, 3})}}); });
  EXPECT_NE(msg.find("'x'"), std::string::npos) << msg;
}

TEST(OnnxExport, CheckerAcceptsAndRoundTrips) {
  for (const char* name : {"test_conv_with_strides_padding", "test_if", "test_loop11", "test_lstm_defaults",
                           "test_constant", "test_resize_downsample_scales_linear"}) {
    std::string path = std::string(kTestData) + "/node/" + name + "/model.onnx";
    if (!fs::exists(path)) continue;
    auto model = onnx_io::load_model_file(path);
    std::string bytes = onnx_io::serialize_model(*model);
    onnx::ModelProto proto;
    ASSERT_TRUE(proto.ParseFromString(bytes)) << name;
    EXPECT_NO_THROW(onnx::checker::check_model(proto)) << name;
    auto again = onnx_io::load_model_bytes(bytes, "", name);
    ASSERT_EQ(again->graph.nodes.size(), model->graph.nodes.size()) << name;
    for (size_t i = 0; i < model->graph.nodes.size(); ++i) {
      EXPECT_EQ(again->graph.nodes[i].op_type, model->graph.nodes[i].op_type);
      EXPECT_EQ(again->graph.nodes[i].inputs, model->graph.nodes[i].inputs);
      EXPECT_EQ(again->graph.nodes[i].attributes.size(), model->graph.nodes[i].attributes.size());
    }
    EXPECT_EQ(again->graph.initializers.size(), model->graph.initializers.size());
    EXPECT_EQ(again->opset_imports, model->opset_imports);
  }
}

}  // namespace
}  // namespace quac
