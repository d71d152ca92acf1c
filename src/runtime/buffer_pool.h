// Reuses tensor buffers across nodes and runs: a buffer freed after its last reader goes back to the pool and serves
// the next allocation of a similar size, so steady-state runs allocate nothing.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <utility>
#include <vector>

#include "quac/tensor.h"

namespace quac {

class BufferPool : public std::enable_shared_from_this<BufferPool> {
 public:
  ~BufferPool();
  // Allocates an uninitialised tensor whose storage returns to this pool when the last copy is dropped.
  Tensor allocate(DataType type, const Shape& shape);
  size_t cached_bytes() const;

 private:
  void release(void* p, size_t bytes);
  mutable std::mutex mutex_;
  // (bytes, buffer) of the free buffers, unordered: a run frees and takes a few dozen, so a scan costs less than the
  // node allocation a std::multimap makes on every release.
  std::vector<std::pair<size_t, void*>> free_;
  size_t cached_bytes_ = 0;
};

}  // namespace quac
