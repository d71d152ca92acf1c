#include "runtime/buffer_pool.h"

#include <cstdlib>

namespace quac {
namespace {
constexpr size_t kAlignment = 64;
constexpr size_t kMaxCachedBytes = size_t{2} << 30;
}  // namespace

BufferPool::~BufferPool() {
  for (auto& [size, p] : free_) std::free(p);
}

Tensor BufferPool::allocate(DataType type, const Shape& shape) {
  if (type == DataType::kString || type == DataType::kUndefined) return Tensor(type, shape);
  int64_t n = shape_numel(shape);
  size_t bytes = static_cast<size_t>(n) * dtype_size(type);
  bytes = std::max<size_t>((bytes + kAlignment - 1) / kAlignment * kAlignment, kAlignment);
  void* p = nullptr;
  size_t got = bytes;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    // Best fit among the buffers of bytes..2*bytes.
    size_t best = free_.size();
    for (size_t i = 0; i < free_.size(); ++i) {
      size_t size = free_[i].first;
      if (size >= bytes && size <= 2 * bytes && (best == free_.size() || size < free_[best].first)) best = i;
    }
    if (best < free_.size()) {
      got = free_[best].first;
      p = free_[best].second;
      cached_bytes_ -= got;
      free_[best] = free_.back();
      free_.pop_back();
    }
  }
  if (!p) {
    p = std::aligned_alloc(kAlignment, bytes);
    if (!p)
      QUAC_THROW(kInternal, "out of memory allocating ", bytes, " bytes for a tensor of shape ", shape_str(shape));
  }
  std::weak_ptr<BufferPool> weak = weak_from_this();
  std::shared_ptr<void> owner(p, [weak, got](void* q) {
    if (auto pool = weak.lock())
      pool->release(q, got);
    else
      std::free(q);
  });
  return Tensor::wrap(type, shape, p, std::move(owner));
}

void BufferPool::release(void* p, size_t bytes) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (cached_bytes_ + bytes > kMaxCachedBytes) {
    std::free(p);
    return;
  }
  free_.emplace_back(bytes, p);
  cached_bytes_ += bytes;
}

size_t BufferPool::cached_bytes() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return cached_bytes_;
}

}  // namespace quac
