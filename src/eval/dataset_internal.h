// Pieces shared by the dataset readers: the spec parser, labels files, folder listing, and the npz and image
// decoders (kept apart from the datasets so the fuzz targets can call them on raw bytes).
#pragma once

#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "quac/dataset.h"

namespace quac::detail {

// "kind:PATH,key=value,..." split into its parts. A part without '=' continues the previous value, so per-channel
// lists read naturally: "mean=0.485,0.456,0.406,std=0.229,0.224,0.225".
struct DatasetSpec {
  std::string text, kind, path;
  std::map<std::string, std::string> options;

  bool has(const std::string& key) const { return options.count(key) > 0; }
  std::string get(const std::string& key, const std::string& fallback) const;
  double number(const std::string& key, double fallback) const;
  std::vector<double> numbers(const std::string& key) const;          // "a,b,c" (or "a:b:c")
  std::pair<int64_t, int64_t> size_hw(const std::string& key) const;  // "HxW", or "S" for SxS
  // Throws kInvalidArgument naming the first option not in `known`.
  void check_known(std::initializer_list<const char*> known) const;
};
DatasetSpec parse_dataset_spec(const std::string& spec);

// One annotation (and its metadata) from a labels file.
struct Label {
  Tensor annotation;
  std::map<std::string, std::string> metadata;
  std::string file;  // the .npy file the annotation was read from (canonical path), if any
};

// Reads a labels file mapping sample names to annotations (format in docs/datasets.md): JSON when the name ends in
// .json, otherwise text lines "NAME VALUE..." or "NAME,VALUE,...". A value naming a .npy file loads that array
// (relative to the labels file's folder, which it may not leave). Throws kDatasetError naming the file and line.
std::map<std::string, Label> read_labels(const std::string& path);

// Pairs each sample name with its label. Throws kDatasetError naming the first sample without a label and the first
// label whose sample is not in the folder.
std::vector<Label> match_labels(const std::vector<std::string>& names, const std::map<std::string, Label>& labels,
                                const std::string& labels_path, const std::string& folder);

// Regular files below `dir` (recursive, sorted) whose lower-case extension is in `extensions`, as relative names with
// '/' separators.
std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& extensions);

// Throws kDatasetError unless `name` is a relative path that stays inside its folder (no root, no "..").
void check_inside(const std::string& name, const std::string& what);

// Reads a whole file, capped at `max_bytes`; kDatasetError naming it when missing or larger.
std::string read_sample_file(const std::string& path, size_t max_bytes);

// NumPy .npz archives (zip, members stored or deflated, one .npy per array; array names without ".npy").
std::vector<std::string> npz_array_names(const std::string& path);
Tensor npz_read_array(const std::string& path, const std::string& name);
// Every array of an archive in memory (the fuzz target's entry point); `label` names it in errors.
std::map<std::string, Tensor> decode_npz(const std::string& bytes, const std::string& label);

// An 8-bit image, rows of width * channels bytes (HWC).
struct Image {
  int width = 0, height = 0, channels = 0;
  std::vector<uint8_t> pixels;
};
// Decodes PNG, JPEG, BMP or PGM/PPM bytes into `channels` (1 or 3) channels. Throws kDatasetError naming `label`
// on corrupt data or an image over the size limit.
Image decode_image(const std::string& bytes, int channels, const std::string& label);
// Bilinear (triangle-filter) resize.
Image resize_image(const Image& image, int height, int width);

std::shared_ptr<Dataset> open_npz_folder(const DatasetSpec& spec, const Model& model);
std::shared_ptr<Dataset> open_image_folder(const DatasetSpec& spec, const Model& model);

}  // namespace quac::detail
