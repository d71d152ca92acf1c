// quac::Error: the one exception type thrown at the API boundary.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace quac {

enum class ErrorCode {
  kInvalidModel,     // the model file or graph is malformed
  kInvalidArgument,  // a caller-supplied value (shape, name, option) is wrong
  kUnsupported,      // valid, but quac does not implement it
  kIoError,          // a file could not be read or written
  kDatasetError,     // a dataset item is missing or malformed
  kMetricError,      // a metric failed or returned something unusable
  kInternal,         // a bug in quac
};

const char* error_code_name(ErrorCode code);

// An error whose message names the thing at fault (file, node, op, field, index).
class Error : public std::runtime_error {
 public:
  Error(ErrorCode code, const std::string& message) : std::runtime_error(message), code_(code) {}
  ErrorCode code() const { return code_; }

 private:
  ErrorCode code_;
};

namespace detail {
template <typename... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail

}  // namespace quac

// QUAC_THROW(kInvalidArgument, "input '", name, "' has rank ", r) builds the message from its pieces.
#define QUAC_THROW(code, ...) throw ::quac::Error(::quac::ErrorCode::code, ::quac::detail::concat(__VA_ARGS__))
#define QUAC_CHECK(cond, code, ...)             \
  do {                                          \
    if (!(cond)) QUAC_THROW(code, __VA_ARGS__); \
  } while (0)
