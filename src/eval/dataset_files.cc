// npz:DIR[,labels=FILE]: a folder of .npy / .npz sample files, read one item at a time (format in docs/datasets.md).
//
// A model with one input: each .npy file is one sample (named by its path relative to DIR), and each array of an
// .npz file is one sample (named "PATH:ARRAY"). A model with several inputs: each .npz file is one sample holding
// one array per input, named after the input. A sample array may carry a leading batch dimension of 1.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <set>

#include "core/npy.h"
#include "eval/dataset_internal.h"

namespace quac::detail {
namespace fs = std::filesystem;

namespace {

struct SampleRef {
  std::string name;   // the key in the labels file
  std::string file;   // path relative to the folder
  std::string array;  // .npz array for single-input models; empty for .npy files and multi-input .npz samples
};

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

// Checks a sample array against the model input (dtype, and every fixed dimension after the batch one); drops a
// leading batch dimension of 1.
Tensor fit_to_input(Tensor t, const ValueDesc& in, const std::string& what) {
  if (in.dtype != DataType::kUndefined && t.dtype() != in.dtype)
    QUAC_THROW(kDatasetError, what, ": holds ", dtype_name(t.dtype()), ", input '", in.name, "' takes ",
               dtype_name(in.dtype));
  if (!in.has_shape) return t;
  size_t want = in.shape.empty() ? 0 : in.shape.size() - 1;
  if (static_cast<size_t>(t.rank()) == want + 1 && t.rank() >= 1 && t.dim(0) == 1)
    t = t.reshaped(Shape(t.shape().begin() + 1, t.shape().end()));
  bool ok = static_cast<size_t>(t.rank()) == want;
  for (size_t d = 0; ok && d < want; ++d) ok = in.shape[d + 1] < 0 || in.shape[d + 1] == t.shape()[d];
  if (!ok) {
    Shape sample(in.shape.begin() + (in.shape.empty() ? 0 : 1), in.shape.end());
    QUAC_THROW(kDatasetError, what, ": sample of shape ", shape_str(t.shape()), " does not fit input '", in.name, "' ",
               shape_str(in.shape), " (one sample is ", shape_str(sample), ", -1 = any)");
  }
  return t;
}

class NpzFolderDataset : public Dataset {
 public:
  NpzFolderDataset(const DatasetSpec& spec, const Model& model) : dir_(spec.path), inputs_(model.inputs()) {
    QUAC_CHECK(!inputs_.empty(), kInvalidArgument, "npz:", dir_, ": the model has no inputs");
    for (const auto& file : list_files(dir_, {".npy", ".npz"})) {
      std::string path = (fs::path(dir_) / file).string();
      if (lower(fs::path(file).extension().string()) == ".npy") {
        samples_.push_back({file, file, ""});
        continue;
      }
      std::vector<std::string> arrays = npz_array_names(path);
      if (inputs_.size() == 1) {
        for (const auto& a : arrays) samples_.push_back({file + ":" + a, file, a});
      } else {
        for (const auto& in : inputs_)
          QUAC_CHECK(std::find(arrays.begin(), arrays.end(), in.name) != arrays.end(), kDatasetError, path,
                     ": has no array named after input '", in.name, "'");
        samples_.push_back({file, file, ""});
      }
    }
    labels_path_ = spec.get("labels", "");
    if (!labels_path_.empty()) {
      std::map<std::string, Label> labels = read_labels(labels_path_);
      // Annotation arrays kept in the folder (masks/a.npy) are annotations, not samples.
      std::set<std::string> annotation_files;
      for (const auto& [name, label] : labels)
        if (!label.file.empty()) annotation_files.insert(label.file);
      if (!annotation_files.empty())
        std::erase_if(samples_, [&](const SampleRef& s) {
          return annotation_files.count(fs::weakly_canonical(fs::path(dir_) / s.file).string()) > 0;
        });
      std::vector<std::string> names;
      for (const auto& s : samples_) names.push_back(s.name);
      labels_ = match_labels(names, labels, labels_path_, "npz:" + dir_);
    }
    QUAC_CHECK(!samples_.empty(), kDatasetError, "npz:", dir_, ": no .npy or .npz samples in the folder");
    for (const auto& s : samples_)
      QUAC_CHECK(inputs_.size() == 1 || lower(fs::path(s.file).extension().string()) == ".npz", kDatasetError,
                 (fs::path(dir_) / s.file).string(), ": the model has ", inputs_.size(),
                 " inputs, so each sample must be an .npz file holding one array per input");
    get(0);  // a first item that does not fit the model fails here, not in the middle of a run
  }

  size_t size() const override { return samples_.size(); }

  DataItem get(size_t i) const override {
    QUAC_CHECK(i < size(), kDatasetError, describe(), ": item ", i, " out of range");
    const SampleRef& s = samples_[i];
    std::string path = (fs::path(dir_) / s.file).string();
    DataItem item;
    if (inputs_.size() == 1) {
      Tensor t;
      if (s.array.empty()) {
        try {
          t = read_npy(path);
        } catch (const Error& e) {
          QUAC_THROW(kDatasetError, e.what());
        }
      } else {
        t = npz_read_array(path, s.array);
      }
      item.inputs.push_back(fit_to_input(t, inputs_[0], path + (s.array.empty() ? "" : ":" + s.array)));
    } else {
      for (const auto& in : inputs_)
        item.inputs.push_back(fit_to_input(npz_read_array(path, in.name), in, path + ":" + in.name));
    }
    if (!labels_.empty()) {
      item.annotation = labels_[i].annotation;
      item.metadata = labels_[i].metadata;
    }
    item.metadata["file"] = s.name;
    return item;
  }

  std::string describe() const override { return "npz:" + dir_ + " (" + std::to_string(size()) + " items)"; }
  bool has_annotations() const override { return !labels_.empty(); }

 private:
  std::string dir_, labels_path_;
  std::vector<ValueDesc> inputs_;
  std::vector<SampleRef> samples_;
  std::vector<Label> labels_;
};

}  // namespace

std::shared_ptr<Dataset> open_npz_folder(const DatasetSpec& spec, const Model& model) {
  spec.check_known({"labels"});
  QUAC_CHECK(!spec.path.empty(), kInvalidArgument, "dataset spec '", spec.text, "': npz needs a folder (npz:DIR)");
  QUAC_CHECK(fs::is_directory(spec.path), kDatasetError, "npz:", spec.path, ": not a folder");
  return std::make_shared<NpzFolderDataset>(spec, model);
}

}  // namespace quac::detail
