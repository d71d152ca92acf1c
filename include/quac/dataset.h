// Datasets: what quac calibrates on and evaluates with. An item is one sample: one tensor per model input (without
// the batch dimension) plus its annotation, as in POT's (data, annotation[, metadata]).
#pragma once

#include <cstddef>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quac/model.h"
#include "quac/tensor.h"

namespace quac {

struct DataItem {
  std::vector<Tensor> inputs;  // one per model input, in declaration order, without the batch dimension
  Tensor annotation;           // undefined when the dataset has no annotations
  std::map<std::string, std::string> metadata;
};

class Dataset {
 public:
  virtual ~Dataset() = default;
  virtual size_t size() const = 0;
  // Item `index` (< size()). Throws kDatasetError naming the dataset and the index on a bad item.
  virtual DataItem get(size_t index) const = 0;
  // "npy:/data/fmnist (10000 items)" for logs and reports.
  virtual std::string describe() const = 0;
  virtual bool has_annotations() const { return true; }
};

// Opens a dataset from a command-line spec (full description in docs/datasets.md):
//   npy:DIR        DIR/x.npy holds N samples stacked on axis 0 (memory-mapped), DIR/y.npy the N annotations; a model
//                  with several inputs reads DIR/x_INPUTNAME.npy for each
//   npz:DIR[,labels=FILE]   a folder of sample files: one sample per .npy file or per array of an .npz (named
//                  "FILE.npz:ARRAY"); for a model with several inputs one .npz per sample, an array per input name
//   images:DIR[,labels=FILE][,size=HxW|shorter=S][,crop=HxW][,layout=nchw|nhwc][,channels=gray|rgb][,scale=S]
//          [,mean=M..][,std=S..]   PNG/JPEG/BMP/PGM/PPM images decoded with stb, resized (to HxW, or the shorter side
//                  to S), centre-cropped, (pixel / S - mean) / std per channel
//   idx:DIR[,split=test|train][,mean=M][,std=S][,limit=N]   MNIST-family IDX files (optionally .gz); pixels scaled to
//                  [0,1], then (x - M) / S
//   random[,n=N][,seed=S]   random normal inputs shaped from the model's inputs (speed work only; no annotations)
// A labels file maps each sample name (its path relative to DIR) to its annotation: text lines "NAME VALUE..." or
// JSON {"NAME": value}; values are class ids, numbers, nested arrays or .npy files (segmentation masks, boxes).
// Items carry metadata {"file": NAME} (and "image_size" for images). Bad input throws one kDatasetError naming the
// file. `model` supplies the input names and shapes the data must match.
std::shared_ptr<Dataset> open_dataset(const std::string& spec, const Model& model);

// The folder readers with typed options, for C++ callers (the same readers as the npz: and images: specs; no comma
// parsing, so any folder name works). Empty / zero fields take the defaults described above.
struct NpzFolderOptions {
  std::string labels;  // labels file; empty = no annotations
};
std::shared_ptr<Dataset> open_npz_folder(const std::string& dir, const Model& model,
                                         const NpzFolderOptions& options = {});

struct ImageFolderOptions {
  std::string labels;                   // labels file; empty = no annotations
  int height = 0, width = 0;            // resize to height x width; 0 = the model input's size
  int shorter = 0;                      // or resize the shorter side to this, keeping the aspect ratio (needs a crop)
  int crop_height = 0, crop_width = 0;  // then cut the centre crop_height x crop_width; 0 = no crop
  std::string layout;                   // "nchw" or "nhwc"; empty = from the model input
  std::string channels;                 // "gray" or "rgb"; empty = from the model input
  double scale = 255.0;                 // value = (pixel / scale - mean[c]) / std[c]
  std::vector<double> mean;             // one value or one per channel; empty = 0
  std::vector<double> stddev;           // one value or one per channel; empty = 1
};
std::shared_ptr<Dataset> open_image_folder(const std::string& dir, const Model& model,
                                           const ImageFolderOptions& options = {});

// The dataset spec help shown by `quac evaluate --help` and `quac quantize --help`.
const char* dataset_spec_help();

// A view of some items of another dataset (a calibration subset, a ranking subset, one half of a split).
std::shared_ptr<Dataset> subset(std::shared_ptr<const Dataset> base, std::vector<size_t> indices);

// Stacks items [begin, end) of `indices` into batched inputs (one tensor per model input, batch first) and collects
// their annotations. Throws kDatasetError naming the item when shapes or types disagree.
struct Batch {
  std::vector<Tensor> inputs;
  std::vector<Tensor> annotations;
  std::vector<size_t> indices;
};
Batch make_batch(const Dataset& dataset, const std::vector<size_t>& indices, size_t begin, size_t end);

}  // namespace quac
