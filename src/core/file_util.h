// File helpers: whole-file reads with clear errors, and atomic writes (temp file + rename) so a failed run never
// leaves a half-written output behind.
#pragma once

#include <string>
#include <string_view>

namespace quac {

std::string read_file(const std::string& path);  // throws kIoError naming the path
// Writes to PATH.tmp-XXXX in the same folder, flushes, then renames over PATH.
void write_file_atomic(const std::string& path, std::string_view contents);

}  // namespace quac
