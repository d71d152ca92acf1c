// Dataset specs, labels files and folder listing (see dataset_internal.h).
#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/npy.h"
#include "eval/dataset_internal.h"

namespace quac::detail {
namespace fs = std::filesystem;

namespace {

std::vector<std::string> split(const std::string& text, char sep) {
  std::vector<std::string> parts;
  std::stringstream ss(text);
  std::string part;
  while (std::getline(ss, part, sep)) parts.push_back(part);
  return parts;
}

std::string trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

bool parse_number(const std::string& text, double& value, bool& integral) {
  if (text.empty()) return false;
  try {
    size_t used = 0;
    value = std::stod(text, &used);
    if (used != text.size() || !std::isfinite(value)) return false;
  } catch (const std::exception&) {
    return false;
  }
  integral = text.find_first_of(".eEnN") == std::string::npos;
  return true;
}

// A rectangular nested JSON array of numbers -> tensor (int64 when every number is an integer, else float32).
Tensor json_to_tensor(const nlohmann::json& j, const std::string& where) {
  Shape shape;
  const nlohmann::json* level = &j;
  while (level->is_array()) {
    shape.push_back(static_cast<int64_t>(level->size()));
    if (level->empty()) break;
    level = &(*level)[0];
  }
  std::vector<double> values;
  bool integral = true;
  // Walks the array depth-first, checking that every sub-array has the shape of the first one.
  std::function<void(const nlohmann::json&, size_t)> walk = [&](const nlohmann::json& v, size_t depth) {
    if (depth == shape.size()) {
      QUAC_CHECK(v.is_number(), kDatasetError, where, ": annotation arrays must hold numbers only");
      values.push_back(v.get<double>());
      integral = integral && (v.is_number_integer() || v.is_number_unsigned());
      return;
    }
    QUAC_CHECK(v.is_array() && static_cast<int64_t>(v.size()) == shape[depth], kDatasetError, where,
               ": annotation array is not rectangular (expected shape ", shape_str(shape), ")");
    for (const auto& e : v) walk(e, depth + 1);
  };
  walk(j, 0);
  if (integral) {
    std::vector<int64_t> ints(values.begin(), values.end());
    return Tensor::from_vector<int64_t>(shape, ints);
  }
  std::vector<float> floats(values.begin(), values.end());
  return Tensor::from_vector<float>(shape, floats);
}

Tensor load_npy_reference(const std::string& ref, const fs::path& base, const std::string& where, std::string& file) {
  check_inside(ref, where);
  fs::path p = base / ref;
  QUAC_CHECK(fs::is_regular_file(p), kDatasetError, where, ": annotation file ", p.string(), " not found");
  // Symbolic links may not lead outside the labels file's folder either.
  std::string resolved = fs::weakly_canonical(p).string(), root = fs::weakly_canonical(base).string();
  QUAC_CHECK(resolved.compare(0, root.size(), root) == 0, kDatasetError, where, ": annotation file ", ref,
             " leads outside ", root);
  file = resolved;
  try {
    return read_npy(p.string());
  } catch (const Error& e) {
    QUAC_THROW(kDatasetError, where, ": ", e.what());
  }
}

Tensor text_values_to_tensor(const std::vector<std::string>& fields, const fs::path& base, const std::string& where,
                             std::string& file) {
  if (fields.size() == 1 && fields[0].size() > 4 && fields[0].substr(fields[0].size() - 4) == ".npy")
    return load_npy_reference(fields[0], base, where, file);
  std::vector<double> values;
  bool all_integral = true;
  for (const auto& f : fields) {
    double v = 0;
    bool integral = false;
    QUAC_CHECK(parse_number(f, v, integral), kDatasetError, where, ": '", f,
               "' is not a number (nor a .npy file holding the annotation)");
    values.push_back(v);
    all_integral = all_integral && integral;
  }
  Shape shape = values.size() == 1 ? Shape{} : Shape{static_cast<int64_t>(values.size())};
  if (all_integral) return Tensor::from_vector<int64_t>(shape, std::vector<int64_t>(values.begin(), values.end()));
  return Tensor::from_vector<float>(shape, std::vector<float>(values.begin(), values.end()));
}

std::map<std::string, Label> read_text_labels(const std::string& text, const std::string& path) {
  std::map<std::string, Label> labels;
  fs::path base = fs::path(path).parent_path();
  std::vector<std::string> lines = split(text, '\n');
  for (size_t n = 0; n < lines.size(); ++n) {
    std::string line = trim(lines[n]);
    if (line.empty() || line[0] == '#') continue;
    std::string where = path + " line " + std::to_string(n + 1);
    std::vector<std::string> fields;
    if (line.find(',') != std::string::npos) {
      for (auto& f : split(line, ',')) fields.push_back(trim(f));
    } else {
      std::istringstream is(line);
      std::string f;
      while (is >> f) fields.push_back(f);
    }
    QUAC_CHECK(fields.size() >= 2 && !fields[0].empty(), kDatasetError, where,
               ": expected 'NAME VALUE...' or 'NAME,VALUE,...', got '", line, "'");
    std::string name = fields[0];
    check_inside(name, where);
    QUAC_CHECK(!labels.count(name), kDatasetError, where, ": '", name, "' is labelled twice");
    fields.erase(fields.begin());
    labels[name].annotation = text_values_to_tensor(fields, base, where, labels[name].file);
  }
  return labels;
}

std::map<std::string, Label> read_json_labels(const std::string& text, const std::string& path) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    QUAC_THROW(kDatasetError, path, ": not valid JSON (", e.what(), ")");
  }
  QUAC_CHECK(j.is_object(), kDatasetError, path, ": must be a JSON object {\"sample name\": annotation, ...}");
  fs::path base = fs::path(path).parent_path();
  std::map<std::string, Label> labels;
  for (const auto& [name, value] : j.items()) {
    std::string where = path + " '" + name + "'";
    check_inside(name, where);
    Label& label = labels[name];
    const nlohmann::json* annotation = &value;
    if (value.is_object()) {
      for (const auto& [key, v] : value.items())
        QUAC_CHECK(key == "annotation" || key == "metadata", kDatasetError, where, ": unknown key '", key,
                   "' (expected annotation, metadata)");
      QUAC_CHECK(value.contains("annotation"), kDatasetError, where, ": object without \"annotation\"");
      annotation = &value["annotation"];
      if (value.contains("metadata")) {
        QUAC_CHECK(value["metadata"].is_object(), kDatasetError, where, ": metadata must be an object");
        for (const auto& [key, v] : value["metadata"].items())
          label.metadata[key] = v.is_string() ? v.get<std::string>() : v.dump();
      }
    }
    if (annotation->is_string())
      label.annotation = load_npy_reference(annotation->get<std::string>(), base, where, label.file);
    else if (annotation->is_number() || annotation->is_array())
      label.annotation = json_to_tensor(*annotation, where);
    else
      QUAC_THROW(kDatasetError, where, ": annotation must be a number, an array of numbers or a .npy file name");
  }
  return labels;
}

}  // namespace

std::string DatasetSpec::get(const std::string& key, const std::string& fallback) const {
  auto it = options.find(key);
  return it == options.end() ? fallback : it->second;
}

double DatasetSpec::number(const std::string& key, double fallback) const {
  auto it = options.find(key);
  if (it == options.end()) return fallback;
  double v = 0;
  bool integral = false;
  if (!parse_number(it->second, v, integral))
    QUAC_THROW(kInvalidArgument, "dataset spec '", text, "': ", key, "=", it->second, " is not a number");
  return v;
}

std::vector<double> DatasetSpec::numbers(const std::string& key) const {
  std::vector<double> out;
  auto it = options.find(key);
  if (it == options.end()) return out;
  std::string value = it->second;
  std::replace(value.begin(), value.end(), ':', ',');
  for (const auto& part : split(value, ',')) {
    double v = 0;
    bool integral = false;
    if (!parse_number(trim(part), v, integral))
      QUAC_THROW(kInvalidArgument, "dataset spec '", text, "': ", key, "=", it->second, " is not a list of numbers");
    out.push_back(v);
  }
  return out;
}

std::pair<int64_t, int64_t> DatasetSpec::size_hw(const std::string& key) const {
  std::string value = get(key, "");
  auto x = value.find('x');
  std::string h = value.substr(0, x), w = x == std::string::npos ? h : value.substr(x + 1);
  auto dim = [&](const std::string& s) {
    if (s.empty() || s.size() > 5 || s.find_first_not_of("0123456789") != std::string::npos || std::stoll(s) == 0)
      QUAC_THROW(kInvalidArgument, "dataset spec '", text, "': ", key, "=", value,
                 " must be HxW (positive integers up to 99999)");
    return std::stoll(s);
  };
  return {dim(h), dim(w)};
}

void DatasetSpec::check_known(std::initializer_list<const char*> known) const {
  for (const auto& [k, v] : options) {
    bool ok = false;
    std::string names;
    for (const char* name : known) {
      ok = ok || k == name;
      names += std::string(names.empty() ? "" : ", ") + name;
    }
    if (!ok)
      QUAC_THROW(kInvalidArgument, "dataset spec '", text, "': unknown option '", k, "' for ", kind,
                 names.empty() ? " (it takes none)" : " (known: " + names + ")");
  }
}

DatasetSpec parse_dataset_spec(const std::string& spec) {
  DatasetSpec out;
  out.text = spec;
  std::vector<std::string> parts = split(spec, ',');
  if (parts.empty() || parts[0].empty()) QUAC_THROW(kInvalidArgument, "empty dataset spec");
  auto colon = parts[0].find(':');
  out.kind = parts[0].substr(0, colon);
  out.path = colon == std::string::npos ? "" : parts[0].substr(colon + 1);
  std::string last;
  for (size_t i = 1; i < parts.size(); ++i) {
    auto eq = parts[i].find('=');
    if (eq == std::string::npos && !last.empty() && !parts[i].empty()) {
      out.options[last] += "," + parts[i];
      continue;
    }
    if (eq == std::string::npos || eq == 0)
      QUAC_THROW(kInvalidArgument, "dataset spec '", spec, "': option '", parts[i], "' is not key=value");
    last = parts[i].substr(0, eq);
    QUAC_CHECK(!out.options.count(last), kInvalidArgument, "dataset spec '", spec, "': option '", last,
               "' given twice");
    out.options[last] = parts[i].substr(eq + 1);
  }
  return out;
}

std::map<std::string, Label> read_labels(const std::string& path) {
  QUAC_CHECK(fs::is_regular_file(path), kDatasetError, "labels file ", path, " not found");
  std::string text = read_sample_file(path, size_t{1} << 30);
  std::string ext = fs::path(path).extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  auto labels = ext == ".json" ? read_json_labels(text, path) : read_text_labels(text, path);
  QUAC_CHECK(!labels.empty(), kDatasetError, path, ": no labels");
  return labels;
}

std::vector<Label> match_labels(const std::vector<std::string>& names, const std::map<std::string, Label>& labels,
                                const std::string& labels_path, const std::string& folder) {
  std::vector<Label> out;
  out.reserve(names.size());
  for (const auto& name : names) {
    auto it = labels.find(name);
    QUAC_CHECK(it != labels.end(), kDatasetError, labels_path, ": no label for '", name, "' (in ", folder, ")");
    out.push_back(it->second);
  }
  if (labels.size() != names.size()) {
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [name, label] : labels)
      QUAC_CHECK(std::binary_search(sorted.begin(), sorted.end(), name), kDatasetError, labels_path, ": labels '", name,
                 "', which is not a sample of ", folder);
  }
  return out;
}

std::vector<std::string> list_files(const std::string& dir, const std::vector<std::string>& extensions) {
  std::vector<std::string> names;
  std::error_code ec;
  fs::recursive_directory_iterator it(dir, fs::directory_options::none, ec), end;
  QUAC_CHECK(!ec, kDatasetError, dir, ": cannot list (", ec.message(), ")");
  for (; it != end; it.increment(ec)) {
    QUAC_CHECK(!ec, kDatasetError, dir, ": cannot list (", ec.message(), ")");
    if (!it->is_regular_file(ec)) continue;
    std::string ext = it->path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
    if (std::find(extensions.begin(), extensions.end(), ext) == extensions.end()) continue;
    names.push_back(fs::relative(it->path(), dir).generic_string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

void check_inside(const std::string& name, const std::string& what) {
  fs::path p(name);
  QUAC_CHECK(!name.empty() && !p.has_root_path(), kDatasetError, what, ": '", name,
             "' must be a path relative to its folder");
  for (const auto& part : p) QUAC_CHECK(part != "..", kDatasetError, what, ": '", name, "' leads outside its folder");
}

std::string read_sample_file(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  QUAC_CHECK(in, kDatasetError, path, ": cannot open");
  in.seekg(0, std::ios::end);
  auto size = static_cast<std::streamoff>(in.tellg());
  QUAC_CHECK(size >= 0 && static_cast<size_t>(size) <= max_bytes, kDatasetError, path, ": larger than ", max_bytes,
             " bytes");
  in.seekg(0);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), size);
  QUAC_CHECK(in.gcount() == size, kDatasetError, path, ": cannot read");
  return bytes;
}

}  // namespace quac::detail
