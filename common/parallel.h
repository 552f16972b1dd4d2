// A bounded fan-out for independent items: fn(i) for i in [0, n) on up to `workers` threads, the
// calling thread included, each taking the next index. Returns when all are done.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace sc {

inline void parallelFor(size_t n, size_t workers, const std::function<void(size_t)>& fn) {
  std::atomic<size_t> next{0};
  auto work = [&] {
    for (size_t i = next++; i < n; i = next++) fn(i);
  };
  std::vector<std::thread> threads;
  for (size_t w = 1; w < std::min(n, workers); ++w) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
}

}  // namespace sc
