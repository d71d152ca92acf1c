// Intra-op parallelism on OpenMP (the same runtime oneDNN uses here, so the two share one thread pool).
#pragma once

#include <omp.h>

#include <algorithm>
#include <cstdint>

namespace quac {

// Calls fn(begin, end) on contiguous chunks of [0, n) split statically over `threads` threads, so results are
// deterministic for a fixed thread count. Small ranges (n < min_chunk * 2) run inline.
template <typename Fn>
void parallel_for(int64_t n, int threads, Fn&& fn, int64_t min_chunk = 1) {
  if (n <= 0) return;
  int64_t max_threads = std::max<int64_t>(1, std::min<int64_t>(threads, n / std::max<int64_t>(min_chunk, 1)));
  if (max_threads <= 1 || omp_in_parallel()) {
    fn(int64_t{0}, n);
    return;
  }
  int t = static_cast<int>(max_threads);
#pragma omp parallel num_threads(t)
  {
    int id = omp_get_thread_num(), count = omp_get_num_threads();
    int64_t chunk = (n + count - 1) / count;
    int64_t begin = std::min<int64_t>(n, id * chunk), end = std::min<int64_t>(n, begin + chunk);
    if (begin < end) fn(begin, end);
  }
}

}  // namespace quac
