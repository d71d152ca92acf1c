#include "config/params.h"

namespace quac::config {

ParamReader::ParamReader(const nlohmann::json& object, std::string path) : object_(object), path_(std::move(path)) {
  if (object_.is_null()) object_ = nlohmann::json::object();
  if (!object_.is_object()) QUAC_THROW(kInvalidArgument, path_, ": expected an object, got ", object_.dump());
}

ParamReader ParamReader::object(const std::string& key) {
  read_.insert(key);
  return ParamReader(object_.contains(key) ? object_.at(key) : nlohmann::json::object(), path_ + "." + key);
}

std::vector<ParamReader> ParamReader::objects(const std::string& key) {
  read_.insert(key);
  std::vector<ParamReader> out;
  if (!object_.contains(key)) return out;
  const auto& arr = object_.at(key);
  if (!arr.is_array()) QUAC_THROW(kInvalidArgument, path_, ".", key, ": expected an array");
  for (size_t i = 0; i < arr.size(); ++i) out.emplace_back(arr[i], path_ + "." + key + "[" + std::to_string(i) + "]");
  return out;
}

void ParamReader::finish() const {
  for (const auto& [key, value] : object_.items())
    if (!read_.count(key)) QUAC_THROW(kInvalidArgument, path_, ": unknown key '", key, "'");
}

}  // namespace quac::config
