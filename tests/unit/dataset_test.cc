// The folder datasets (npz:DIR and images:DIR with labels files) on small files written into a temp folder, and
// their bad-input errors.
#include <gtest/gtest.h>
#include <zip.h>

#include <filesystem>
#include <fstream>

#include "core/npy.h"
#include "eval/dataset_internal.h"
#include "quac/evaluator.h"
#include "test_model_builder.h"

#define STB_IMAGE_WRITE_IMPLEMENTATION
#define STB_IMAGE_WRITE_STATIC
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"
#include <stb/stb_image_write.h>
#pragma GCC diagnostic pop

namespace quac {
namespace {
namespace fs = std::filesystem;

Model identity_model(Shape shape, DataType type = DataType::kFloat) {
  testing::ModelBuilder b;
  b.input("x", type, shape).node("Identity", {"x"}, {"y"}).output("y");
  return b.build();
}

fs::path fresh_dir(const std::string& name) {
  fs::path dir = fs::temp_directory_path() / ("quac_dataset_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

// An .npz written with libzip, each member stored or deflated.
void write_npz(const fs::path& path, const std::vector<std::pair<std::string, Tensor>>& arrays, bool deflate) {
  int err = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &err);
  ASSERT_NE(z, nullptr);
  std::vector<std::string> buffers;
  buffers.reserve(arrays.size());
  for (const auto& [name, t] : arrays) {
    buffers.push_back(encode_npy(t));
    zip_source_t* src = zip_source_buffer(z, buffers.back().data(), buffers.back().size(), 0);
    zip_int64_t index = zip_file_add(z, (name + ".npy").c_str(), src, ZIP_FL_OVERWRITE);
    ASSERT_GE(index, 0);
    zip_set_file_compression(z, static_cast<zip_uint64_t>(index), deflate ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0);
  }
  ASSERT_EQ(zip_close(z), 0);
}

Tensor row4(float a, float b, float c, float d) { return Tensor::from_vector<float>({4}, {a, b, c, d}); }

// Expects `fn` to throw a quac::Error whose message contains every piece of `needles`.
template <typename Fn>
void expect_error(Fn fn, std::vector<std::string> needles) {
  try {
    fn();
    ADD_FAILURE() << "no error; expected one mentioning " << needles[0];
  } catch (const Error& e) {
    for (const auto& n : needles) EXPECT_NE(std::string(e.what()).find(n), std::string::npos) << e.what();
  }
}

TEST(NpzFolder, NpyFilesWithTextLabelsInSubfolders) {
  fs::path dir = fresh_dir("npy_files");
  fs::create_directories(dir / "sub");
  write_npy((dir / "a.npy").string(), row4(9, 0, 0, 0));
  write_npy((dir / "sub" / "b.npy").string(), Tensor::from_vector<float>({1, 4}, {0, 0, 9, 0}));  // leading batch 1
  write_text(dir / "not_a_sample.txt", "ignored: not .npy/.npz");
  write_text(dir / "labels.txt", "# name label\na.npy 0\nsub/b.npy, 1\n");
  Model model = identity_model({-1, 4});
  auto data = open_dataset("npz:" + dir.string() + ",labels=" + (dir / "labels.txt").string(), model);
  ASSERT_EQ(data->size(), 2u);
  EXPECT_TRUE(data->has_annotations());
  DataItem a = data->get(0), b = data->get(1);
  EXPECT_EQ(a.metadata.at("file"), "a.npy");
  EXPECT_EQ(b.metadata.at("file"), "sub/b.npy");
  EXPECT_EQ(b.inputs[0].shape(), (Shape{4}));
  EXPECT_EQ(a.annotation.scalar_as_int(), 0);
  EXPECT_EQ(b.annotation.scalar_as_int(), 1);
  // End to end: a is right (argmax 0), b is wrong (argmax 2, label 1).
  auto metric = create_metric("top1");
  Session session(model);
  auto r = evaluate(session, *data, *metric, {});
  EXPECT_DOUBLE_EQ(r.metrics.at("top1"), 0.5);
  EXPECT_EQ(r.per_sample.at("top1"), (std::vector<double>{1, 0}));
  EXPECT_EQ(open_npz_folder(dir.string(), model, {.labels = (dir / "labels.txt").string()})
                ->get(1)
                .annotation.scalar_as_int(),
            1);
  // Without labels: inputs only.
  auto unlabelled = open_dataset("npz:" + dir.string(), model);
  EXPECT_FALSE(unlabelled->has_annotations());
  EXPECT_FALSE(unlabelled->get(1).annotation.defined());
}

TEST(NpzFolder, EveryArrayOfAnNpzIsASampleStoredOrDeflated) {
  fs::path dir = fresh_dir("npz_arrays");
  write_npz(dir / "s.npz", {{"first", row4(1, 5, 0, 0)}, {"second", row4(0, 0, 0, 7)}}, false);
  write_npz(dir / "d.npz", {{"arr_0", row4(3, 2, 1, 0)}}, true);
  write_npy((dir / "box.npy").string(), Tensor::from_vector<float>({1, 5}, {1, 0, 0, 10, 10}));
  write_text(dir / "labels.json", R"({"s.npz:first": 1,
    "s.npz:second": {"annotation": [3], "metadata": {"source": "camera 2"}},
    "d.npz:arr_0": "box.npy"})");
  Model model = identity_model({-1, 4});
  auto data = open_dataset("npz:" + dir.string() + ",labels=" + (dir / "labels.json").string(), model);
  ASSERT_EQ(data->size(), 3u);  // d.npz:arr_0, s.npz:first, s.npz:second (sorted by file, then archive order)
  DataItem d = data->get(0), first = data->get(1), second = data->get(2);
  EXPECT_EQ(d.metadata.at("file"), "d.npz:arr_0");
  EXPECT_EQ(d.inputs[0].data<float>()[0], 3.0f);
  EXPECT_EQ(d.annotation.shape(), (Shape{1, 5}));  // an array annotation from a .npy file
  EXPECT_EQ(d.annotation.data<float>()[3], 10.0f);
  EXPECT_EQ(first.inputs[0].data<float>()[1], 5.0f);
  EXPECT_EQ(first.annotation.scalar_as_int(), 1);
  EXPECT_EQ(second.annotation.shape(), (Shape{1}));
  EXPECT_EQ(second.metadata.at("source"), "camera 2");
  EXPECT_EQ(second.inputs[0].data<float>()[3], 7.0f);
}

TEST(NpzFolder, SegmentationMasksAndDetectionBoxesAsAnnotations) {
  // Identity over per-pixel scores [N, 2, 2, 2]: the samples are the predictions, masks come from .npy files.
  Model model = identity_model({-1, 2, 2, 2});
  fs::path dir = fresh_dir("npz_masks");
  // Sample a predicts class 1 on the left column, b everywhere class 0.
  write_npy((dir / "a.npy").string(), Tensor::from_vector<float>({2, 2, 2}, {0, 1, 0, 1, 1, 0, 1, 0}));
  write_npy((dir / "b.npy").string(), Tensor::from_vector<float>({2, 2, 2}, {1, 1, 1, 1, 0, 0, 0, 0}));
  fs::create_directories(dir / "masks");
  write_npy((dir / "masks" / "a.npy").string(), Tensor::from_vector<int64_t>({2, 2}, {1, 0, 1, 0}));  // all right
  write_npy((dir / "masks" / "b.npy").string(), Tensor::from_vector<int64_t>({2, 2}, {0, 0, 0, 1}));  // 3 of 4
  write_text(dir / "labels.txt", "a.npy masks/a.npy\nb.npy masks/b.npy\n");
  auto data = open_dataset("npz:" + dir.string() + ",labels=" + (dir / "labels.txt").string(), model);
  ASSERT_EQ(data->size(), 2u);  // the masks inside the folder are annotations, not samples
  auto metric = create_metric("pixel_accuracy,mean_iou");
  Session session(model);
  auto r = evaluate(session, *data, *metric, {});
  EXPECT_DOUBLE_EQ(r.metrics.at("pixel_accuracy"), 7.0 / 8);
  // Class 0: intersection 3+... over both items: predicted 0 at a(1,3), b(0..3) -> 6 pixels; truth 0 at a(1,3),
  // b(0,1,2) -> 5; intersection 5 -> 5/6. Class 1: predicted a(0,2) = 2, truth a(0,2), b(3) = 3, intersection 2 -> 2/3.
  EXPECT_NEAR(r.metrics.at("mean_iou"), (5.0 / 6 + 2.0 / 3) / 2, 1e-12);
  EXPECT_EQ(r.per_sample.at("pixel_accuracy"), (std::vector<double>{1.0, 0.75}));
  EXPECT_FALSE(r.attributes.at("mean_iou").per_sample);

  // With no file reference the masks folder holds samples again, and they do not fit the model.
  expect_error([&] { open_dataset("npz:" + dir.string(), model)->get(2); }, {"masks/a.npy", "int64", "input 'x'"});
  fs::remove_all(dir / "masks");

  // Detection boxes from JSON: [M, 5] rows (class, x1, y1, x2, y2), float when any value is fractional; [] for none.
  write_text(dir / "boxes.json", R"({"a.npy": [[1, 10.5, 20, 110, 140], [4, 30, 30, 60, 90]], "b.npy": []})");
  auto boxes = open_dataset("npz:" + dir.string() + ",labels=" + (dir / "boxes.json").string(), model);
  Tensor a = boxes->get(0).annotation, b = boxes->get(1).annotation;
  EXPECT_EQ(a.shape(), (Shape{2, 5}));
  EXPECT_EQ(a.dtype(), DataType::kFloat);
  EXPECT_FLOAT_EQ(a.data<float>()[1], 10.5f);
  EXPECT_EQ(b.shape(), (Shape{0}));
}

TEST(NpzFolder, ReadsArchivesWrittenByNumpy) {
  // Written by numpy.savez (stored) and numpy.savez_compressed (deflated), which also write zip64 extra fields.
  fs::path seeds = fs::path(QUAC_SOURCE_DIR) / "tests/data/fuzz_seeds/npz";
  auto stored = detail::decode_npz(detail::read_sample_file((seeds / "stored.npz").string(), 1 << 20), "stored.npz");
  ASSERT_EQ(stored.size(), 2u);
  EXPECT_EQ(stored.at("first").shape(), (Shape{3, 4}));
  EXPECT_EQ(stored.at("first").data<float>()[11], 11.0f);
  EXPECT_EQ(stored.at("second").data<int64_t>()[2], 3);
  auto deflated =
      detail::decode_npz(detail::read_sample_file((seeds / "deflated.npz").string(), 1 << 20), "deflated.npz");
  EXPECT_EQ(deflated.at("arr_0").data<float>()[5], 5.0f);
  EXPECT_EQ(deflated.at("arr_1").dtype(), DataType::kUInt8);
  EXPECT_EQ(detail::npz_array_names((seeds / "deflated.npz").string()), (std::vector<std::string>{"arr_0", "arr_1"}));
}

TEST(NpzFolder, ModelWithSeveralInputsReadsOneNpzPerSample) {
  testing::ModelBuilder b;
  b.input("a", DataType::kFloat, {-1, 2}).input("b", DataType::kFloat, {-1, 2}).node("Add", {"a", "b"}, {"y"});
  Model model = b.output("y").build();
  fs::path dir = fresh_dir("npz_multi");
  write_npz(dir / "0.npz",
            {{"a", Tensor::from_vector<float>({2}, {1, 2})}, {"b", Tensor::from_vector<float>({2}, {3, 4})}}, true);
  write_npz(dir / "1.npz",
            {{"b", Tensor::from_vector<float>({2}, {0, 0})}, {"a", Tensor::from_vector<float>({2}, {5, 6})}}, false);
  auto data = open_dataset("npz:" + dir.string(), model);
  ASSERT_EQ(data->size(), 2u);
  DataItem one = data->get(1);
  ASSERT_EQ(one.inputs.size(), 2u);
  EXPECT_EQ(one.inputs[0].data<float>()[0], 5.0f);  // in the model's input order, not the archive's
  EXPECT_EQ(one.inputs[1].data<float>()[0], 0.0f);
  write_npz(dir / "2.npz", {{"a", Tensor::from_vector<float>({2}, {1, 2})}}, false);
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"2.npz", "input 'b'"});
  fs::remove(dir / "2.npz");
  write_npy((dir / "3.npy").string(), row4(0, 0, 0, 0));
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"3.npy", ".npz"});
}

TEST(NpzFolder, BadInputIsOneErrorNamingTheFile) {
  Model model = identity_model({-1, 4});
  fs::path dir = fresh_dir("npz_bad");
  write_npy((dir / "a.npy").string(), row4(1, 0, 0, 0));
  write_npy((dir / "b.npy").string(), row4(0, 1, 0, 0));
  auto spec = [&](const std::string& labels) { return "npz:" + dir.string() + ",labels=" + (dir / labels).string(); };
  // A label missing for a file, and a label for a file that is not there.
  write_text(dir / "l1.txt", "a.npy 0\n");
  expect_error([&] { open_dataset(spec("l1.txt"), model); }, {"l1.txt", "no label for 'b.npy'"});
  write_text(dir / "l2.txt", "a.npy 0\nb.npy 1\nc.npy 2\n");
  expect_error([&] { open_dataset(spec("l2.txt"), model); }, {"l2.txt", "'c.npy'"});
  // Paths escaping the folder, in sample names and in annotation files.
  write_text(dir / "l3.txt", "a.npy 0\nb.npy 1\n../b.npy 1\n");
  expect_error([&] { open_dataset(spec("l3.txt"), model); }, {"l3.txt line 3", "outside"});
  write_text(dir / "l4.txt", "a.npy 0\nb.npy ../../etc/secret.npy\n");
  expect_error([&] { open_dataset(spec("l4.txt"), model); }, {"l4.txt line 2", "outside"});
  write_text(dir / "l5.json", R"({"a.npy": 0, "/b.npy": 1})");
  expect_error([&] { open_dataset(spec("l5.json"), model); }, {"l5.json", "relative"});
  // Malformed labels files.
  write_text(dir / "l6.txt", "a.npy zero\nb.npy 1\n");
  expect_error([&] { open_dataset(spec("l6.txt"), model); }, {"l6.txt line 1", "'zero'"});
  write_text(dir / "l7.json", R"({"a.npy": [[1, 2], [3]], "b.npy": 1})");
  expect_error([&] { open_dataset(spec("l7.json"), model); }, {"l7.json", "rectangular"});
  write_text(dir / "l8.json", "{\"a.npy\": 0,");
  expect_error([&] { open_dataset(spec("l8.json"), model); }, {"l8.json", "JSON"});
  write_text(dir / "l9.txt", "a.npy 0\na.npy 1\n");
  expect_error([&] { open_dataset(spec("l9.txt"), model); }, {"l9.txt line 2", "twice"});
  expect_error([&] { open_dataset(spec("missing.txt"), model); }, {"missing.txt", "not found"});
  // A sample of the wrong shape, or type, names its file (when opening, or when read).
  write_npy((dir / "b.npy").string(), Tensor::from_vector<float>({5}, {0, 1, 0, 0, 0}));
  expect_error([&] { open_dataset("npz:" + dir.string(), model)->get(1); }, {"b.npy", "does not fit input 'x'"});
  write_npy((dir / "a.npy").string(), Tensor::from_vector<double>({4}, {0, 1, 0, 0}));
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"a.npy", "float64"});
  // Corrupt and truncated archives.
  fs::remove(dir / "a.npy");
  fs::remove(dir / "b.npy");
  write_text(dir / "junk.npz", std::string("PK\x03\x04 this is not a zip archive"));
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"junk.npz", ".npz"});
  fs::remove(dir / "junk.npz");
  write_npz(dir / "t.npz", {{"x", row4(1, 2, 3, 4)}}, true);
  std::string bytes = detail::read_sample_file((dir / "t.npz").string(), 1 << 20);
  write_text(dir / "t.npz", bytes.substr(0, bytes.size() / 2));
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"t.npz"});
  // A member whose data is damaged (CRC mismatch) inside an intact archive.
  write_npz(dir / "t.npz", {{"x", row4(1, 2, 3, 4)}}, false);
  bytes = detail::read_sample_file((dir / "t.npz").string(), 1 << 20);
  bytes[bytes.find("NUMPY") + 100] ^= 0x55;
  write_text(dir / "t.npz", bytes);
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"t.npz:x"});
  fs::remove(dir / "t.npz");
  expect_error([&] { open_dataset("npz:" + dir.string(), model); }, {"no .npy or .npz"});
  expect_error([&] { open_dataset("npz:" + dir.string() + ",size=3", model); }, {"unknown option 'size'"});
  expect_error([&] { open_dataset("npz:/nonexistent/quac", model); }, {"not a folder"});
}

// Writes a gray (channels 1) or RGB (3) PNG of h x w pixels, value f(y, x, c).
template <typename F>
void write_png(const fs::path& path, int h, int w, int channels, F f) {
  std::vector<uint8_t> pixels(static_cast<size_t>(h * w * channels));
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < channels; ++c) pixels[static_cast<size_t>((y * w + x) * channels + c)] = f(y, x, c);
  fs::create_directories(path.parent_path());
  ASSERT_TRUE(stbi_write_png(path.c_str(), w, h, channels, pixels.data(), w * channels));
}

TEST(ImageFolder, GrayImagesNormalisedInTheModelsLayout) {
  fs::path dir = fresh_dir("images_gray");
  write_png(dir / "cat" / "1.png", 4, 4, 1, [](int y, int x, int) { return static_cast<uint8_t>(y * 4 + x); });
  write_png(dir / "dog" / "2.png", 4, 4, 3, [](int, int, int) { return uint8_t{51}; });  // RGB read as gray
  write_text(dir / "labels.csv", "cat/1.png,3\ndog/2.png,5\n");
  Model model = identity_model({-1, 1, 4, 4});
  auto data =
      open_dataset("images:" + dir.string() + ",labels=" + (dir / "labels.csv").string() + ",mean=0.5,std=0.25", model);
  ASSERT_EQ(data->size(), 2u);
  DataItem cat = data->get(0), dog = data->get(1);
  EXPECT_EQ(cat.inputs[0].shape(), (Shape{1, 4, 4}));
  EXPECT_NEAR(cat.inputs[0].data<float>()[6], (6 / 255.0 - 0.5) / 0.25, 1e-6);
  EXPECT_NEAR(dog.inputs[0].data<float>()[15], (51 / 255.0 - 0.5) / 0.25, 1e-6);
  EXPECT_EQ(cat.annotation.scalar_as_int(), 3);
  EXPECT_EQ(dog.metadata.at("file"), "dog/2.png");
  EXPECT_EQ(dog.metadata.at("image_size"), "4x4");
  // The typed C++ options give the same items as the spec.
  ImageFolderOptions options;
  options.labels = (dir / "labels.csv").string();
  options.mean = {0.5};
  options.stddev = {0.25};
  DataItem typed = open_image_folder(dir.string(), model, options)->get(0);
  EXPECT_EQ(typed.inputs[0].data<float>()[6], cat.inputs[0].data<float>()[6]);
  EXPECT_EQ(typed.annotation.scalar_as_int(), 3);
  options.height = 5;
  options.width = 4;
  expect_error([&] { open_image_folder(dir.string(), model, options); }, {"size 5x4"});
  // scale=1: pixel units.
  auto raw_units = open_dataset("images:" + dir.string() + ",scale=1,mean=6", model);
  EXPECT_FLOAT_EQ(raw_units->get(0).inputs[0].data<float>()[7], 1.0f);
  // A uint8 input takes the pixels as they are.
  Model u8 = identity_model({-1, 1, 4, 4}, DataType::kUInt8);
  EXPECT_EQ(open_dataset("images:" + dir.string(), u8)->get(0).inputs[0].data<uint8_t>()[9], 9);
  expect_error([&] { open_dataset("images:" + dir.string() + ",mean=0.5", u8); }, {"uint8"});
}

TEST(ImageFolder, RgbResizedToSizeNhwcPerChannelMeanStd) {
  fs::path dir = fresh_dir("images_rgb");
  // Constant colours survive any resize exactly: (10, 20, 30) and (200, 100, 0).
  write_png(dir / "a.png", 8, 6, 3, [](int, int, int c) { return static_cast<uint8_t>(10 * (c + 1)); });
  write_png(dir / "b.png", 3, 5, 3, [](int, int, int c) { return static_cast<uint8_t>(200 - 100 * c); });
  Model nhwc = identity_model({-1, -1, -1, 3});
  auto data = open_dataset("images:" + dir.string() + ",size=4x2,mean=0.1,0.2,0.3,std=0.5,0.5,0.25", nhwc);
  DataItem a = data->get(0), b = data->get(1);
  ASSERT_EQ(a.inputs[0].shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(b.inputs[0].shape(), (Shape{4, 2, 3}));
  EXPECT_EQ(b.metadata.at("image_size"), "3x5");
  const float* pa = a.inputs[0].data<float>();
  const float* pb = b.inputs[0].data<float>();
  const double mean[3] = {0.1, 0.2, 0.3}, stddev[3] = {0.5, 0.5, 0.25};
  for (int c = 0; c < 3; ++c) {
    EXPECT_NEAR(pa[7 * 3 + c], (10 * (c + 1) / 255.0 - mean[c]) / stddev[c], 1e-5) << c;
    EXPECT_NEAR(pb[5 * 3 + c], ((200 - 100 * c) / 255.0 - mean[c]) / stddev[c], 1e-5) << c;
  }
  // NCHW gives the same values, channel-major.
  Model nchw = identity_model({-1, 3, 4, 2});
  auto planar = open_dataset("images:" + dir.string() + ",mean=0.1:0.2:0.3,std=0.5:0.5:0.25", nchw)->get(0);
  ASSERT_EQ(planar.inputs[0].shape(), (Shape{3, 4, 2}));
  for (int c = 0; c < 3; ++c) EXPECT_NEAR(planar.inputs[0].data<float>()[c * 8 + 7], pa[7 * 3 + c], 1e-6);
  // Resizing keeps a gradient's order (a triangle filter, no ringing).
  write_png(dir / "c.png", 8, 8, 3, [](int, int x, int) { return static_cast<uint8_t>(x * 30); });
  DataItem c = open_dataset("images:" + dir.string() + ",size=4x4", nhwc)->get(2);
  for (int x = 1; x < 4; ++x) EXPECT_GT(c.inputs[0].data<float>()[x * 3], c.inputs[0].data<float>()[(x - 1) * 3]);
}

TEST(ImageFolder, ShorterSideResizeAndCentreCrop) {
  fs::path dir = fresh_dir("images_crop");
  write_png(dir / "a.png", 6, 8, 1, [](int y, int x, int) { return static_cast<uint8_t>(y * 10 + x); });
  Model model = identity_model({-1, 1, -1, -1});
  // A crop alone cuts the centre out of the original: rows 2..3, columns 2..5.
  DataItem crop = open_dataset("images:" + dir.string() + ",crop=2x4,scale=1", model)->get(0);
  ASSERT_EQ(crop.inputs[0].shape(), (Shape{1, 2, 4}));
  EXPECT_EQ(crop.inputs[0].data<float>()[0], 22.0f);
  EXPECT_EQ(crop.inputs[0].data<float>()[7], 35.0f);
  // shorter=3: 6x8 becomes 3x4 (the other side truncated, as torchvision does), then the centre 2x2.
  auto data = open_dataset("images:" + dir.string() + ",shorter=3,crop=2x2", model);
  EXPECT_EQ(data->get(0).inputs[0].shape(), (Shape{1, 2, 2}));
  write_png(dir / "b.png", 9, 3, 1, [](int, int, int) { return uint8_t{7}; });  // 9x3 -> 9x3, crop 2x2
  data = open_dataset("images:" + dir.string() + ",shorter=3,crop=2x2", model);
  EXPECT_EQ(data->get(1).inputs[0].shape(), (Shape{1, 2, 2}));
  EXPECT_EQ(data->get(1).inputs[0].data<float>()[3], 7.0f / 255);
  // size then crop; the crop is what the model sees.
  Model fixed = identity_model({-1, 1, 2, 2});
  EXPECT_EQ(open_dataset("images:" + dir.string() + ",size=4x4,crop=2x2", fixed)->get(1).inputs[0].shape(),
            (Shape{1, 2, 2}));
  expect_error([&] { open_dataset("images:" + dir.string() + ",size=4x4,crop=3x3", fixed); }, {"crop 3x3"});
  expect_error([&] { open_dataset("images:" + dir.string() + ",crop=4x4", model)->get(1); },
               {"b.png", "9x3", "smaller than the crop 4x4"});
  expect_error([&] { open_dataset("images:" + dir.string() + ",shorter=3", model); }, {"needs crop"});
  expect_error([&] { open_dataset("images:" + dir.string() + ",shorter=3,size=3x3,crop=2x2", model); },
               {"size or shorter"});
}

TEST(ImageFolder, BadInputIsOneErrorNamingTheFile) {
  fs::path dir = fresh_dir("images_bad");
  write_png(dir / "a.png", 4, 4, 1, [](int, int, int) { return uint8_t{1}; });
  Model model = identity_model({-1, 1, 4, 4});
  Model dynamic = identity_model({-1, 1, -1, -1});
  std::string base = "images:" + dir.string();
  // Options that do not fit the model.
  expect_error([&] { open_dataset(base + ",size=8x8", model); }, {"size 8x8", "input 'x'"});
  expect_error([&] { open_dataset(base + ",channels=rgb", model); }, {"3 channel", "input 'x'"});
  expect_error([&] { open_dataset(base + ",mean=1,2", model); }, {"mean has 2 values for 1 channel"});
  expect_error([&] { open_dataset(base + ",std=0", model); }, {"std must not be 0"});
  expect_error([&] { open_dataset(base + ",layout=chw", model); }, {"layout"});
  expect_error([&] { open_dataset(base + ",size=4y4", model); }, {"size=4y4"});
  expect_error([&] { open_dataset(base + ",colour=red", model); }, {"unknown option 'colour'"});
  expect_error([&] { open_dataset(base, identity_model({-1, 16})); }, {"4-D"});
  // Images of different sizes with neither size= nor a fixed model size.
  write_png(dir / "b.png", 5, 4, 1, [](int, int, int) { return uint8_t{1}; });
  expect_error([&] { open_dataset(base, dynamic)->get(1); }, {"b.png", "5x4", "size=HxW"});
  EXPECT_EQ(open_dataset(base + ",size=4x4", dynamic)->get(1).inputs[0].shape(), (Shape{1, 4, 4}));
  // Corrupt, truncated and hostile images.
  write_text(dir / "c.png", "\x89PNG\r\n\x1a\n not really");
  expect_error([&] { open_dataset(base, model)->get(2); }, {"c.png"});
  std::string png = detail::read_sample_file((dir / "a.png").string(), 1 << 20);
  write_text(dir / "c.png", png.substr(0, png.size() - 20));
  expect_error([&] { open_dataset(base, model)->get(2); }, {"c.png"});
  // A PGM header claiming 60000 x 60000 pixels: refused before anything is allocated.
  write_text(dir / "c.pgm", "P5\n60000 60000\n255\n" + std::string(16, '\0'));
  expect_error([&] { open_dataset(base, model)->get(2); }, {"c.pgm"});
  fs::remove(dir / "c.png");
  fs::remove(dir / "c.pgm");
  // Labels.
  write_text(dir / "labels.txt", "a.png 1\n");
  expect_error([&] { open_dataset(base + ",labels=" + (dir / "labels.txt").string(), model); },
               {"labels.txt", "no label for 'b.png'"});
  fs::remove_all(dir);
  fs::create_directories(dir);
  expect_error([&] { open_dataset(base, model); }, {"no images"});
}

// Inputs the fuzzers found crashing stb stay as regression tests: each must decode or throw quac::Error (the asan
// build runs them under the sanitizers via tests/fuzz); the decoded seeds must decode.
TEST(ImageFolder, FuzzSeedsAndRegressionsDecodeOrThrow) {
  fs::path dir = fs::path(QUAC_SOURCE_DIR) / "tests/data/fuzz_seeds/image";
  size_t decoded = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    std::string bytes = detail::read_sample_file(entry.path().string(), 1 << 20);
    bool crash_input = entry.path().filename().string().rfind("crash_", 0) == 0;
    for (int channels : {1, 3}) {
      try {
        detail::Image image = detail::decode_image(bytes, channels, entry.path().string());
        EXPECT_EQ(image.pixels.size(), static_cast<size_t>(image.width * image.height * channels));
        decoded += !crash_input;
      } catch (const Error& e) {
        EXPECT_TRUE(crash_input) << e.what();
        EXPECT_EQ(e.code(), ErrorCode::kDatasetError);
      }
    }
  }
  EXPECT_EQ(decoded, 10u);  // five seed images, twice
  std::string dht = detail::read_sample_file((dir / "crash_dht_counts.jpg").string(), 1 << 20);
  expect_error([&] { detail::decode_image(dht, 3, "crash_dht_counts.jpg"); }, {"crash_dht_counts.jpg", "Huffman"});
  // The seeds, decoded: a 6x8 gray ramp (value 5 * index) and its RGB version (g, 255 - g, g / 2).
  detail::Image gray = detail::decode_image(detail::read_sample_file((dir / "gray.png").string(), 1 << 20), 1, "g");
  ASSERT_EQ(gray.width, 8);
  ASSERT_EQ(gray.height, 6);
  EXPECT_EQ(gray.pixels[13], 65);
  detail::Image rgb = detail::decode_image(detail::read_sample_file((dir / "rgb.png").string(), 1 << 20), 3, "rgb");
  EXPECT_EQ(rgb.pixels[13 * 3 + 1], 255 - 65);
  EXPECT_EQ(rgb.pixels[13 * 3 + 2], 32);
  detail::Image pgm = detail::decode_image(detail::read_sample_file((dir / "gray.pgm").string(), 1 << 20), 3, "pgm");
  EXPECT_EQ(pgm.pixels[13 * 3 + 2], 65);  // gray to RGB replicates
  detail::Image bmp = detail::decode_image(detail::read_sample_file((dir / "rgb.bmp").string(), 1 << 20), 1, "bmp");
  EXPECT_EQ(bmp.pixels[13], (65 * 77 + 190 * 150 + 32 * 29) >> 8);  // RGB to gray: BT.601 luma
}

TEST(DatasetSpec, OptionsListsAndErrors) {
  auto spec = detail::parse_dataset_spec("images:/data,mean=0.485,0.456,0.406,std=0.2:0.3:0.4,size=224");
  EXPECT_EQ(spec.kind, "images");
  EXPECT_EQ(spec.path, "/data");
  EXPECT_EQ(spec.numbers("mean"), (std::vector<double>{0.485, 0.456, 0.406}));
  EXPECT_EQ(spec.numbers("std"), (std::vector<double>{0.2, 0.3, 0.4}));
  EXPECT_EQ(spec.size_hw("size"), (std::pair<int64_t, int64_t>{224, 224}));
  EXPECT_THROW(detail::parse_dataset_spec("npz:/d,labels=a,labels=b"), Error);
  EXPECT_THROW(detail::parse_dataset_spec("npz:/d,=3"), Error);
  EXPECT_THROW(detail::parse_dataset_spec(""), Error);
  EXPECT_THROW(detail::parse_dataset_spec("idx:/d,mean=0.5,x").numbers("mean"), Error);
  EXPECT_NE(std::string(dataset_spec_help()).find("images:DIR"), std::string::npos);
}

}  // namespace
}  // namespace quac
