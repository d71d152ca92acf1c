#include "quac/dataset.h"

#include <zlib.h>

#include <cstring>
#include <filesystem>
#include <random>
#include <sstream>

#include "core/file_util.h"
#include "core/npy.h"
#include "core/random.h"
#include "eval/dataset_internal.h"

namespace quac {
namespace fs = std::filesystem;

namespace {

// Row `index` of a tensor stacked on axis 0, sharing its storage (no copy: the npy file stays memory-mapped).
Tensor row(const Tensor& stacked, size_t index) {
  Shape shape(stacked.shape().begin() + 1, stacked.shape().end());
  int64_t n = shape_numel(shape);
  size_t bytes = static_cast<size_t>(n) * dtype_size(stacked.dtype());
  auto* base = static_cast<char*>(const_cast<void*>(stacked.raw_data()));
  return Tensor::wrap(stacked.dtype(), shape, base + bytes * index, stacked.storage());
}

class NpyDataset : public Dataset {
 public:
  NpyDataset(const std::string& dir, const Model& model) : dir_(dir) {
    auto inputs = model.inputs();
    QUAC_CHECK(!inputs.empty(), kInvalidArgument, "npy:", dir, ": the model has no inputs");
    for (const auto& in : inputs) {
      fs::path p = inputs.size() == 1 ? fs::path(dir) / "x.npy" : fs::path(dir) / ("x_" + in.name + ".npy");
      if (inputs.size() == 1 && !fs::exists(p)) p = fs::path(dir) / ("x_" + in.name + ".npy");
      if (!fs::exists(p))
        QUAC_THROW(kDatasetError, "npy:", dir, ": missing ", p.filename().string(), " for input '", in.name, "'");
      Tensor t = read_npy(p.string());
      QUAC_CHECK(t.rank() >= 1, kDatasetError, p.string(), ": must stack samples on axis 0");
      if (in.dtype != DataType::kUndefined && t.dtype() != in.dtype)
        QUAC_THROW(kDatasetError, p.string(), ": holds ", dtype_name(t.dtype()), ", but input '", in.name, "' is ",
                   dtype_name(in.dtype));
      if (in.has_shape && in.shape.size() == static_cast<size_t>(t.rank())) {
        for (size_t d = 1; d < in.shape.size(); ++d)
          if (in.shape[d] >= 0 && in.shape[d] != t.shape()[d])
            QUAC_THROW(kDatasetError, p.string(), ": samples have shape ",
                       shape_str(Shape(t.shape().begin() + 1, t.shape().end())), ", input '", in.name,
                       "' needs dimension ", d, " = ", in.shape[d]);
      } else if (in.has_shape) {
        QUAC_THROW(kDatasetError, p.string(), ": rank ", t.rank(), " does not match input '", in.name, "' of rank ",
                   in.shape.size());
      }
      if (!x_.empty() && t.dim(0) != x_[0].dim(0))
        QUAC_THROW(kDatasetError, "npy:", dir, ": input files hold different numbers of samples");
      x_.push_back(t);
    }
    fs::path yp = fs::path(dir) / "y.npy";
    if (fs::exists(yp)) {
      y_ = read_npy(yp.string());
      QUAC_CHECK(y_.rank() >= 1 && y_.dim(0) == x_[0].dim(0), kDatasetError, yp.string(), ": holds ",
                 y_.rank() ? y_.dim(0) : 0, " annotations for ", x_[0].dim(0), " samples");
    }
  }
  size_t size() const override { return static_cast<size_t>(x_[0].dim(0)); }
  DataItem get(size_t i) const override {
    QUAC_CHECK(i < size(), kDatasetError, describe(), ": item ", i, " out of range");
    DataItem item;
    for (const auto& t : x_) item.inputs.push_back(row(t, i));
    if (y_.defined()) item.annotation = row(y_, i);
    return item;
  }
  std::string describe() const override { return "npy:" + dir_ + " (" + std::to_string(size()) + " items)"; }
  bool has_annotations() const override { return y_.defined(); }

 private:
  std::string dir_;
  std::vector<Tensor> x_;
  Tensor y_;
};

std::string read_maybe_gzip(const fs::path& path) {
  if (fs::exists(path)) return read_file(path.string());
  fs::path gz = path.string() + ".gz";
  if (!fs::exists(gz)) QUAC_THROW(kDatasetError, "missing IDX file ", path.string(), " (or .gz)");
  gzFile f = gzopen(gz.c_str(), "rb");
  if (!f) QUAC_THROW(kIoError, gz.string(), ": cannot open");
  std::string out;
  char buf[1 << 16];
  int n;
  while ((n = gzread(f, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  int err = 0;
  gzerror(f, &err);
  gzclose(f);
  if (n < 0 || (err != Z_OK && err != Z_STREAM_END)) QUAC_THROW(kDatasetError, gz.string(), ": corrupt gzip data");
  return out;
}

// Parses an IDX file of unsigned bytes: magic 0x00000800 | rank, then big-endian dims, then data.
Tensor parse_idx(const std::string& bytes, const std::string& label) {
  auto u32 = [&](size_t off) {
    QUAC_CHECK(off + 4 <= bytes.size(), kDatasetError, label, ": truncated IDX header");
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + off);
    return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
  };
  uint32_t magic = u32(0);
  QUAC_CHECK((magic >> 8) == 0x08, kDatasetError, label, ": not an unsigned-byte IDX file");
  uint32_t rank = magic & 0xff;
  QUAC_CHECK(rank >= 1 && rank <= 4, kDatasetError, label, ": IDX rank ", rank, " unsupported");
  Shape shape;
  for (uint32_t d = 0; d < rank; ++d) shape.push_back(u32(4 + 4 * d));
  size_t start = 4 + 4 * rank;
  int64_t n = shape_numel(shape);
  QUAC_CHECK(bytes.size() >= start + static_cast<size_t>(n), kDatasetError, label, ": IDX data truncated");
  Tensor t(DataType::kUInt8, shape);
  std::memcpy(t.raw_data(), bytes.data() + start, static_cast<size_t>(n));
  return t;
}

class IdxDataset : public Dataset {
 public:
  IdxDataset(const std::string& dir, const std::string& split, float mean, float stddev, size_t limit,
             const Model& model)
      : dir_(dir), split_(split) {
    auto inputs = model.inputs();
    QUAC_CHECK(inputs.size() == 1, kInvalidArgument, "idx:", dir, ": the model must have one input, it has ",
               inputs.size());
    QUAC_CHECK(stddev != 0, kInvalidArgument, "idx:", dir, ": std must not be 0");
    std::string prefix = split == "test" ? "t10k" : "train";
    fs::path images = fs::path(dir) / (prefix + "-images-idx3-ubyte");
    fs::path labels = fs::path(dir) / (prefix + "-labels-idx1-ubyte");
    Tensor raw = parse_idx(read_maybe_gzip(images), images.string());
    Tensor lab = parse_idx(read_maybe_gzip(labels), labels.string());
    QUAC_CHECK(raw.rank() == 3 && lab.rank() == 1 && raw.dim(0) == lab.dim(0), kDatasetError, "idx:", dir,
               ": image and label files disagree");
    int64_t n = raw.dim(0), h = raw.dim(1), w = raw.dim(2);
    if (limit > 0) n = std::min<int64_t>(n, static_cast<int64_t>(limit));
    // The model decides the layout: [N,1,H,W], [N,H,W,1], [N,H,W] or [N,H*W].
    const auto& in = inputs[0];
    Shape sample{1, h, w};
    if (in.has_shape) {
      if (in.shape.size() == 4 && in.shape[3] == 1 && in.shape[1] != 1)
        sample = {h, w, 1};
      else if (in.shape.size() == 3)
        sample = {h, w};
      else if (in.shape.size() == 2)
        sample = {h * w};
    }
    QUAC_CHECK(in.dtype == DataType::kFloat || in.dtype == DataType::kUndefined, kInvalidArgument, "idx:", dir,
               ": input '", in.name, "' must be float32");
    Shape shape{n};
    shape.insert(shape.end(), sample.begin(), sample.end());
    x_ = Tensor(DataType::kFloat, shape);
    const uint8_t* src = raw.data<uint8_t>();
    float* dst = x_.data<float>();
    for (int64_t i = 0; i < n * h * w; ++i) dst[i] = (static_cast<float>(src[i]) / 255.0f - mean) / stddev;
    y_ = Tensor(DataType::kInt64, {n});
    for (int64_t i = 0; i < n; ++i) y_.data<int64_t>()[i] = lab.data<uint8_t>()[i];
  }
  size_t size() const override { return static_cast<size_t>(x_.dim(0)); }
  DataItem get(size_t i) const override {
    QUAC_CHECK(i < size(), kDatasetError, describe(), ": item ", i, " out of range");
    return {{row(x_, i)}, row(y_, i), {}};
  }
  std::string describe() const override {
    return "idx:" + dir_ + " (" + split_ + ", " + std::to_string(size()) + " items)";
  }

 private:
  std::string dir_, split_;
  Tensor x_, y_;
};

class RandomDataset : public Dataset {
 public:
  RandomDataset(size_t n, uint64_t seed, const Model& model) : n_(n), seed_(seed) {
    for (const auto& in : model.inputs()) {
      Shape s;
      for (size_t d = 1; d < in.shape.size(); ++d) s.push_back(in.shape[d] < 0 ? 1 : in.shape[d]);
      shapes_.push_back(s);
      types_.push_back(in.dtype == DataType::kUndefined ? DataType::kFloat : in.dtype);
    }
  }
  size_t size() const override { return n_; }
  DataItem get(size_t i) const override {
    QUAC_CHECK(i < n_, kDatasetError, describe(), ": item ", i, " out of range");
    DataItem item;
    for (size_t k = 0; k < shapes_.size(); ++k)
      item.inputs.push_back(random_tensor(types_[k], shapes_[k], seed_ * 1000003 + i * 131 + k));
    return item;
  }
  std::string describe() const override { return "random (" + std::to_string(n_) + " items)"; }
  bool has_annotations() const override { return false; }

 private:
  size_t n_;
  uint64_t seed_;
  std::vector<Shape> shapes_;
  std::vector<DataType> types_;
};

class SubsetDataset : public Dataset {
 public:
  SubsetDataset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices)
      : base_(std::move(base)), indices_(std::move(indices)) {
    for (size_t i : indices_)
      QUAC_CHECK(i < base_->size(), kInvalidArgument, "subset index ", i, " out of range for ", base_->describe());
  }
  size_t size() const override { return indices_.size(); }
  DataItem get(size_t i) const override {
    QUAC_CHECK(i < indices_.size(), kDatasetError, describe(), ": item ", i, " out of range");
    return base_->get(indices_[i]);
  }
  std::string describe() const override { return base_->describe() + " subset of " + std::to_string(indices_.size()); }
  bool has_annotations() const override { return base_->has_annotations(); }

 private:
  std::shared_ptr<const Dataset> base_;
  std::vector<size_t> indices_;
};

}  // namespace

std::shared_ptr<Dataset> open_dataset(const std::string& spec_text, const Model& model) {
  detail::DatasetSpec spec = detail::parse_dataset_spec(spec_text);
  const std::string& kind = spec.kind;
  const std::string& path = spec.path;
  const std::string& spec_str = spec.text;
  if (kind == "npy") {
    spec.check_known({});
    QUAC_CHECK(!path.empty(), kInvalidArgument, "dataset spec '", spec_str, "': npy needs a folder (npy:DIR)");
    QUAC_CHECK(fs::is_directory(path), kDatasetError, "npy:", path, ": not a folder");
    return std::make_shared<NpyDataset>(path, model);
  }
  if (kind == "npz") return detail::open_npz_folder(spec, model);
  if (kind == "images") return detail::open_image_folder(spec, model);
  if (kind == "idx") {
    spec.check_known({"split", "mean", "std", "limit"});
    QUAC_CHECK(!path.empty(), kInvalidArgument, "dataset spec '", spec_str, "': idx needs a folder (idx:DIR)");
    QUAC_CHECK(fs::is_directory(path), kDatasetError, "idx:", path, ": not a folder");
    std::string split = spec.get("split", "test");
    QUAC_CHECK(split == "test" || split == "train", kInvalidArgument, "dataset spec '", spec_str,
               "': split must be test or train");
    double limit = spec.number("limit", 0);
    QUAC_CHECK(limit >= 0, kInvalidArgument, "dataset spec '", spec_str, "': limit must not be negative");
    return std::make_shared<IdxDataset>(path, split, static_cast<float>(spec.number("mean", 0)),
                                        static_cast<float>(spec.number("std", 1)), static_cast<size_t>(limit), model);
  }
  if (kind == "random") {
    spec.check_known({"n", "seed"});
    double n = spec.number("n", 100);
    QUAC_CHECK(n >= 1 && n <= 1e9, kInvalidArgument, "dataset spec '", spec_str, "': n must be positive");
    return std::make_shared<RandomDataset>(static_cast<size_t>(n), static_cast<uint64_t>(spec.number("seed", 0)),
                                           model);
  }
  QUAC_THROW(kInvalidArgument, "dataset spec '", spec_str, "': unknown kind '", kind,
             "' (expected npy:DIR, npz:DIR, images:DIR, idx:DIR or random)");
}

std::shared_ptr<Dataset> open_npz_folder(const std::string& dir, const Model& model, const NpzFolderOptions& options) {
  detail::DatasetSpec spec;
  spec.kind = "npz";
  spec.path = dir;
  spec.text = "npz:" + dir;
  if (!options.labels.empty()) spec.options["labels"] = options.labels;
  return detail::open_npz_folder(spec, model);
}

std::shared_ptr<Dataset> open_image_folder(const std::string& dir, const Model& model,
                                           const ImageFolderOptions& options) {
  detail::DatasetSpec spec;
  spec.kind = "images";
  spec.path = dir;
  spec.text = "images:" + dir;
  auto list = [](const std::vector<double>& values) {
    std::ostringstream os;
    os.precision(17);
    for (size_t i = 0; i < values.size(); ++i) os << (i ? "," : "") << values[i];
    return os.str();
  };
  if (!options.labels.empty()) spec.options["labels"] = options.labels;
  if (options.height > 0 || options.width > 0)
    spec.options["size"] = std::to_string(options.height) + "x" + std::to_string(options.width);
  if (options.shorter > 0) spec.options["shorter"] = std::to_string(options.shorter);
  if (options.crop_height > 0 || options.crop_width > 0)
    spec.options["crop"] = std::to_string(options.crop_height) + "x" + std::to_string(options.crop_width);
  if (!options.layout.empty()) spec.options["layout"] = options.layout;
  if (!options.channels.empty()) spec.options["channels"] = options.channels;
  if (options.scale != 255.0) spec.options["scale"] = list({options.scale});
  if (!options.mean.empty()) spec.options["mean"] = list(options.mean);
  if (!options.stddev.empty()) spec.options["std"] = list(options.stddev);
  return detail::open_image_folder(spec, model);
}

const char* dataset_spec_help() {
  return R"(Dataset specs (--data), options after commas; full description in docs/datasets.md:
  npy:DIR          DIR/x.npy holds N samples stacked on axis 0, DIR/y.npy their annotations (optional);
                   several inputs: DIR/x_INPUT.npy each
  npz:DIR[,labels=FILE]
                   one sample per .npy file, or per array of an .npz file (named FILE.npz:ARRAY); models with
                   several inputs: one .npz per sample with an array per input name. Subfolders are read too.
  images:DIR[,labels=FILE][,size=HxW|shorter=S][,crop=HxW][,layout=nchw|nhwc][,channels=gray|rgb][,scale=S]
            [,mean=M[,M2,M3]][,std=S[,S2,S3]]
                   PNG/JPEG/BMP/PGM/PPM images, resized to HxW (or the shorter side to S, aspect kept), then
                   centre-cropped to crop=HxW; value = (pixel / scale - mean) / std, scale = 255 by default;
                   layout, channels and size default to what the model's input declares
  idx:DIR[,split=test|train][,mean=M][,std=S][,limit=N]
                   MNIST-family IDX files (optionally .gz); (pixel / 255 - M) / S
  random[,n=N][,seed=S]
                   random inputs shaped like the model's (no annotations)
Labels file (labels=FILE): one sample per line, "NAME VALUE..." or "NAME,VALUE,...", NAME the path relative to DIR;
  VALUE a class id, several numbers (a vector), or a .npy file holding the annotation array; '#' starts a comment.
  FILE.json: {"NAME": 3, "NAME2": [[0, 10, 10, 50, 50]], "NAME3": "masks/a.npy", "NAME4": {"annotation": 1,
  "metadata": {...}}}. Every sample needs a label, and every label a sample.)";
}

std::shared_ptr<Dataset> subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices) {
  return std::make_shared<SubsetDataset>(std::move(base), std::move(indices));
}

Batch make_batch(const Dataset& dataset, const std::vector<size_t>& indices, size_t begin, size_t end) {
  Batch batch;
  std::vector<DataItem> items;
  for (size_t k = begin; k < end; ++k) {
    items.push_back(dataset.get(indices[k]));
    batch.indices.push_back(indices[k]);
  }
  if (items.empty()) return batch;
  size_t num_inputs = items[0].inputs.size();
  for (size_t in = 0; in < num_inputs; ++in) {
    const Tensor& first = items[0].inputs[in];
    Shape shape{static_cast<int64_t>(items.size())};
    shape.insert(shape.end(), first.shape().begin(), first.shape().end());
    Tensor stacked(first.dtype(), shape);
    size_t bytes = first.nbytes();
    for (size_t k = 0; k < items.size(); ++k) {
      const auto& item = items[k];
      if (item.inputs.size() != num_inputs || item.inputs[in].dtype() != first.dtype() ||
          item.inputs[in].shape() != first.shape())
        QUAC_THROW(kDatasetError, dataset.describe(), ": item ", batch.indices[k], " input ", in, " is ",
                   item.inputs.size() > in ? dtype_name(item.inputs[in].dtype()) : "missing",
                   item.inputs.size() > in ? shape_str(item.inputs[in].shape()) : "", ", expected ",
                   dtype_name(first.dtype()), shape_str(first.shape()));
      std::memcpy(static_cast<char*>(stacked.raw_data()) + k * bytes, item.inputs[in].raw_data(), bytes);
    }
    batch.inputs.push_back(stacked);
  }
  for (auto& item : items) batch.annotations.push_back(item.annotation);
  return batch;
}

}  // namespace quac
