// images:DIR[,labels=FILE][,size=HxW | shorter=S][,crop=HxW][,layout=nchw|nhwc][,channels=gray|rgb][,scale=S]
// [,mean=M..][,std=S..]: a folder of PNG / JPEG / BMP / PGM / PPM images, decoded with stb one item at a time (format
// in docs/datasets.md).
//
// Each value is (pixel / scale - mean[c]) / std[c], with scale 255 by default, so mean and std are in [0, 1] units as
// in torchvision; scale=1 gives pixel units (mean=123.675,...). Layout, channels and size default to what the
// model's input declares; a uint8 input takes the raw pixels.
#include <algorithm>
#include <filesystem>
#include <tuple>

#include "eval/dataset_internal.h"

namespace quac::detail {
namespace fs = std::filesystem;

namespace {

constexpr size_t kMaxImageFileBytes = size_t{1} << 28;

class ImageFolderDataset : public Dataset {
 public:
  ImageFolderDataset(const DatasetSpec& spec, const Model& model) : dir_(spec.path) {
    auto inputs = model.inputs();
    QUAC_CHECK(inputs.size() == 1, kInvalidArgument, "images:", dir_, ": the model must have one input, it has ",
               inputs.size());
    const ValueDesc& in = inputs[0];
    QUAC_CHECK(!in.has_shape || in.shape.size() == 4, kInvalidArgument, "images:", dir_, ": input '", in.name,
               "' has shape ", shape_str(in.shape), "; image folders feed 4-D inputs (NCHW or NHWC)");
    Shape s = in.has_shape ? in.shape : Shape{-1, -1, -1, -1};
    auto fixed_channels = [](int64_t d) { return d == 1 || d == 3; };

    std::string layout = spec.get("layout", "");
    if (layout.empty()) layout = fixed_channels(s[3]) && !fixed_channels(s[1]) ? "nhwc" : "nchw";
    QUAC_CHECK(layout == "nchw" || layout == "nhwc", kInvalidArgument, "dataset spec '", spec.text,
               "': layout must be nchw or nhwc");
    nhwc_ = layout == "nhwc";
    int64_t c_dim = nhwc_ ? s[3] : s[1], h_dim = nhwc_ ? s[1] : s[2], w_dim = nhwc_ ? s[2] : s[3];

    std::string channels = spec.get("channels", c_dim == 1 ? "gray" : "rgb");
    QUAC_CHECK(channels == "gray" || channels == "rgb" || channels == "1" || channels == "3", kInvalidArgument,
               "dataset spec '", spec.text, "': channels must be gray or rgb");
    channels_ = channels == "gray" || channels == "1" ? 1 : 3;
    QUAC_CHECK(c_dim < 0 || c_dim == channels_, kInvalidArgument, "dataset spec '", spec.text, "': ", channels_,
               " channel(s) in ", layout, " layout do not fit input '", in.name, "' ", shape_str(in.shape));

    // Geometry: resize to size=HxW, or so that the shorter side is shorter=S (aspect kept), then an optional
    // centre crop=HxW. The final height and width (the crop, else the size) must fit the input.
    QUAC_CHECK(!(spec.has("size") && spec.has("shorter")), kInvalidArgument, "dataset spec '", spec.text,
               "': give size or shorter, not both");
    QUAC_CHECK(!spec.has("shorter") || spec.has("crop"), kInvalidArgument, "dataset spec '", spec.text,
               "': shorter=S keeps each image's aspect ratio, so it needs crop=HxW to give every item one size");
    if (spec.has("size")) std::tie(resize_h_, resize_w_) = spec.size_hw("size");
    if (spec.has("shorter")) shorter_ = spec.size_hw("shorter").first;
    if (spec.has("crop")) std::tie(crop_h_, crop_w_) = spec.size_hw("crop");
    const char* what = crop_h_ ? "crop" : "size";
    int64_t final_h = crop_h_ ? crop_h_ : resize_h_, final_w = crop_h_ ? crop_w_ : resize_w_;
    if (final_h) {
      QUAC_CHECK((h_dim < 0 || h_dim == final_h) && (w_dim < 0 || w_dim == final_w), kInvalidArgument, "dataset spec '",
                 spec.text, "': ", what, " ", final_h, "x", final_w, " does not fit input '", in.name, "' ",
                 shape_str(in.shape), " in ", layout, " layout");
      height_ = static_cast<int>(final_h);
      width_ = static_cast<int>(final_w);
    } else if (h_dim > 0 && w_dim > 0) {
      height_ = static_cast<int>(h_dim);
      width_ = static_cast<int>(w_dim);
      resize_h_ = h_dim;
      resize_w_ = w_dim;
    }

    raw_ = in.dtype == DataType::kUInt8;
    QUAC_CHECK(raw_ || in.dtype == DataType::kFloat || in.dtype == DataType::kUndefined, kInvalidArgument,
               "images:", dir_, ": input '", in.name, "' is ", dtype_name(in.dtype),
               "; image folders feed float32 or uint8");
    QUAC_CHECK(!raw_ || (!spec.has("mean") && !spec.has("std") && !spec.has("scale")), kInvalidArgument,
               "dataset spec '", spec.text, "': input '", in.name,
               "' takes uint8 pixels, so mean, std and scale do "
               "not apply");
    scale_ = spec.number("scale", 255.0);
    QUAC_CHECK(scale_ > 0, kInvalidArgument, "dataset spec '", spec.text, "': scale must be positive");
    mean_ = per_channel(spec, "mean", 0.0);
    std_ = per_channel(spec, "std", 1.0);
    for (double v : std_) QUAC_CHECK(v != 0, kInvalidArgument, "dataset spec '", spec.text, "': std must not be 0");

    files_ = list_files(dir_, {".png", ".jpg", ".jpeg", ".bmp", ".pgm", ".ppm", ".pnm"});
    QUAC_CHECK(!files_.empty(), kDatasetError, "images:", dir_,
               ": no images (.png, .jpg, .jpeg, .bmp, .pgm, .ppm, .pnm) in the folder");
    labels_path_ = spec.get("labels", "");
    if (!labels_path_.empty())
      labels_ = match_labels(files_, read_labels(labels_path_), labels_path_, "images:" + dir_);
    // Without a size, every image keeps its own and the first one sets the size the others must have.
    if (height_ == 0) {
      Image first = load(0);
      height_ = first.height;
      width_ = first.width;
      same_size_ = true;
    }
    get(0);
  }

  size_t size() const override { return files_.size(); }

  DataItem get(size_t i) const override {
    QUAC_CHECK(i < size(), kDatasetError, describe(), ": item ", i, " out of range");
    Image image = load(i);
    DataItem item;
    item.metadata["image_size"] = std::to_string(image.height) + "x" + std::to_string(image.width);
    QUAC_CHECK(!same_size_ || (image.height == height_ && image.width == width_), kDatasetError, dir_, "/", files_[i],
               ": image is ", image.height, "x", image.width, " but ", files_[0], " is ", height_, "x", width_,
               " (give size=HxW to resize them all)");
    image = transform(image, i);
    int64_t h = height_, w = width_, c = channels_;
    Shape shape = nhwc_ ? Shape{h, w, c} : Shape{c, h, w};
    Tensor t(raw_ ? DataType::kUInt8 : DataType::kFloat, shape);
    const uint8_t* src = image.pixels.data();
    for (int64_t y = 0; y < h; ++y)
      for (int64_t x = 0; x < w; ++x)
        for (int64_t k = 0; k < c; ++k) {
          uint8_t p = src[(y * w + x) * c + k];
          int64_t at = nhwc_ ? (y * w + x) * c + k : (k * h + y) * w + x;
          if (raw_)
            t.data<uint8_t>()[at] = p;
          else
            t.data<float>()[at] = static_cast<float>((p / scale_ - mean_[k]) / std_[k]);
        }
    item.inputs.push_back(t);
    if (!labels_.empty()) {
      item.annotation = labels_[i].annotation;
      for (const auto& [key, value] : labels_[i].metadata) item.metadata[key] = value;
    }
    item.metadata["file"] = files_[i];
    return item;
  }

  std::string describe() const override {
    return "images:" + dir_ + " (" + std::to_string(size()) + " items, " + std::to_string(height_) + "x" +
           std::to_string(width_) + (channels_ == 1 ? " gray" : " rgb") + (nhwc_ ? " nhwc" : " nchw") + ")";
  }
  bool has_annotations() const override { return !labels_.empty(); }

 private:
  std::vector<double> per_channel(const DatasetSpec& spec, const std::string& key, double fallback) const {
    std::vector<double> v = spec.has(key) ? spec.numbers(key) : std::vector<double>{fallback};
    if (v.size() == 1) v.assign(static_cast<size_t>(channels_), v[0]);
    QUAC_CHECK(v.size() == static_cast<size_t>(channels_), kInvalidArgument, "dataset spec '", spec.text, "': ", key,
               " has ", v.size(), " values for ", channels_, " channel(s)");
    return v;
  }

  // Resize (to size, or the shorter side to `shorter` truncating the other as torchvision does), then centre crop.
  Image transform(Image image, size_t i) const {
    if (resize_h_) {
      image = resize_image(image, static_cast<int>(resize_h_), static_cast<int>(resize_w_));
    } else if (shorter_) {
      int64_t h = image.height, w = image.width;
      int64_t nh = h <= w ? shorter_ : shorter_ * h / w, nw = h <= w ? shorter_ * w / h : shorter_;
      image =
          resize_image(image, static_cast<int>(std::max<int64_t>(nh, 1)), static_cast<int>(std::max<int64_t>(nw, 1)));
    }
    if (!crop_h_) return image;
    QUAC_CHECK(image.height >= crop_h_ && image.width >= crop_w_, kDatasetError, dir_, "/", files_[i], ": image is ",
               image.height, "x", image.width, resize_h_ || shorter_ ? " after resizing" : "",
               ", smaller than the crop ", crop_h_, "x", crop_w_);
    int64_t top = (image.height - crop_h_) / 2, left = (image.width - crop_w_) / 2, c = image.channels;
    Image out;
    out.height = static_cast<int>(crop_h_);
    out.width = static_cast<int>(crop_w_);
    out.channels = image.channels;
    out.pixels.resize(static_cast<size_t>(crop_h_ * crop_w_ * c));
    for (int64_t y = 0; y < crop_h_; ++y)
      std::copy_n(image.pixels.begin() + ((top + y) * image.width + left) * c, crop_w_ * c,
                  out.pixels.begin() + y * crop_w_ * c);
    return out;
  }

  Image load(size_t i) const {
    std::string path = (fs::path(dir_) / files_[i]).string();
    return decode_image(read_sample_file(path, kMaxImageFileBytes), channels_, path);
  }

  std::string dir_, labels_path_;
  std::vector<std::string> files_;
  std::vector<Label> labels_;
  bool nhwc_ = false, raw_ = false, same_size_ = false;
  int channels_ = 3, height_ = 0, width_ = 0;          // the items' final size
  int64_t resize_h_ = 0, resize_w_ = 0, shorter_ = 0;  // 0 = not resized that way
  int64_t crop_h_ = 0, crop_w_ = 0;                    // 0 = no crop
  double scale_ = 255.0;
  std::vector<double> mean_, std_;
};

}  // namespace

std::shared_ptr<Dataset> open_image_folder(const DatasetSpec& spec, const Model& model) {
  spec.check_known({"labels", "size", "shorter", "crop", "layout", "channels", "scale", "mean", "std"});
  QUAC_CHECK(!spec.path.empty(), kInvalidArgument, "dataset spec '", spec.text,
             "': images needs a folder (images:DIR)");
  QUAC_CHECK(fs::is_directory(spec.path), kDatasetError, "images:", spec.path, ": not a folder");
  return std::make_shared<ImageFolderDataset>(spec, model);
}

}  // namespace quac::detail
