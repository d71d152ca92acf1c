// Progress on stderr for long runs: phase, items done, speed and an estimate of the time left. On a terminal it
// redraws one line; otherwise it prints a line every ~10% so logs stay readable.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace quac {

class Progress {
 public:
  Progress(std::string phase, size_t total, bool enabled = true, std::string unit = "items");
  ~Progress();
  void advance(size_t items);
  void finish();
  static void set_quiet(bool quiet);  // --quiet: no progress at all

 private:
  void draw(bool final_line);
  std::string phase_, unit_;
  size_t total_, done_ = 0;
  bool enabled_, tty_, finished_ = false;
  int last_decile_ = -1;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

std::string format_duration(double seconds);  // "1:05", "1:02:03"
std::string format_count(size_t n);           // "12,345"
// One status line on stderr ("[quac] LINE"), unless --quiet: for progress that spans several Progress phases.
void progress_line(const std::string& line);

}  // namespace quac
