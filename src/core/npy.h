// NumPy .npy files (format versions 1-3, little-endian, C order). Reading memory-maps the file, so a large dataset
// is paged in on demand rather than read whole.
#pragma once

#include <string>

#include "quac/tensor.h"

namespace quac {

// Throws kIoError / kInvalidArgument naming the path on a missing file, a bad header, Fortran order, big-endian data
// or an unsupported dtype.
Tensor read_npy(const std::string& path);
// The same from a .npy image in memory (an .npz member); the data is copied. `label` names it in errors.
Tensor decode_npy(const std::string& bytes, const std::string& label);
std::string encode_npy(const Tensor& tensor);
void write_npy(const std::string& path, const Tensor& tensor);  // atomic

}  // namespace quac
