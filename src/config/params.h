// Typed, validated reading of JSON parameters (POT-style configs and algorithm params). Every key read is recorded;
// finish() rejects whatever was not read, naming it with its full path, so a typo is an error and nothing is
// silently ignored.
#pragma once

#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "quac/error.h"

namespace quac::config {

class ParamReader {
 public:
  // `path` names this object in messages: "compression.algorithms[0].params".
  ParamReader(const nlohmann::json& object, std::string path);

  bool has(const std::string& key) const { return object_.contains(key); }
  template <typename T>
  T get(const std::string& key, const T& default_value) {
    auto v = optional<T>(key);
    return v ? *v : default_value;
  }
  template <typename T>
  T required(const std::string& key) {
    auto v = optional<T>(key);
    if (!v) QUAC_THROW(kInvalidArgument, path_, ": missing required key '", key, "'");
    return *v;
  }
  template <typename T>
  std::optional<T> optional(const std::string& key) {
    read_.insert(key);
    if (!object_.contains(key) || object_.at(key).is_null()) return std::nullopt;
    try {
      return object_.at(key).get<T>();
    } catch (const nlohmann::json::exception&) {
      QUAC_THROW(kInvalidArgument, path_, ".", key, ": expected ", type_name<T>(), ", got ", object_.at(key).dump());
    }
  }
  // A nested object (empty when absent); its own finish() checks its keys.
  ParamReader object(const std::string& key);
  // Elements of an array of objects.
  std::vector<ParamReader> objects(const std::string& key);
  // Marks a key as known without reading it (documented but unused).
  void accept(const std::string& key) { read_.insert(key); }
  // Throws kInvalidArgument naming the first key that was never read.
  void finish() const;
  const std::string& path() const { return path_; }
  const nlohmann::json& json() const { return object_; }

 private:
  template <typename T>
  static const char* type_name() {
    if constexpr (std::is_same_v<T, bool>)
      return "a boolean";
    else if constexpr (std::is_integral_v<T>)
      return "an integer";
    else if constexpr (std::is_floating_point_v<T>)
      return "a number";
    else if constexpr (std::is_same_v<T, std::string>)
      return "a string";
    else
      return "a value of another type";
  }
  nlohmann::json object_;
  std::string path_;
  std::set<std::string> read_;
};

}  // namespace quac::config
