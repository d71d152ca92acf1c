#include "core/progress.h"

#include <unistd.h>

#include <atomic>
#include <cstdio>

namespace quac {
namespace {
std::atomic<bool> g_quiet{false};
}

void Progress::set_quiet(bool quiet) { g_quiet = quiet; }

std::string format_duration(double seconds) {
  if (!(seconds >= 0) || seconds > 1e7) return "?";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  return buf;
}

std::string format_count(size_t n) {
  std::string digits = std::to_string(n), out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

void progress_line(const std::string& line) {
  if (g_quiet) return;
  std::fprintf(stderr, "[quac] %s\n", line.c_str());
  std::fflush(stderr);
}

Progress::Progress(std::string phase, size_t total, bool enabled, std::string unit)
    : phase_(std::move(phase)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled && !g_quiet),
      tty_(isatty(STDERR_FILENO) != 0) {
  start_ = last_draw_ = std::chrono::steady_clock::now();
}

Progress::~Progress() { finish(); }

void Progress::advance(size_t items) {
  done_ += items;
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (tty_) {
    if (now - last_draw_ > std::chrono::milliseconds(200)) draw(false);
  } else if (total_ > 0) {
    int decile = static_cast<int>(10 * done_ / total_);
    if (decile != last_decile_ && decile < 10) {
      last_decile_ = decile;
      draw(false);
    }
  }
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  if (enabled_) draw(true);
}

void Progress::draw(bool final_line) {
  last_draw_ = std::chrono::steady_clock::now();
  double elapsed = std::chrono::duration<double>(last_draw_ - start_).count();
  double rate = elapsed > 0 ? static_cast<double>(done_) / elapsed : 0;
  std::string left =
      final_line
          ? "done in " + format_duration(elapsed)
          : (rate > 0 && total_ >= done_ ? format_duration(static_cast<double>(total_ - done_) / rate) + " left" : "");
  std::fprintf(stderr, "%s[quac] %-28s %zu/%zu %s  %.*f %s/s  %s%s", tty_ ? "\r\033[K" : "", phase_.c_str(), done_,
               total_, unit_.c_str(), rate < 10 ? 1 : 0, rate, unit_.c_str(), left.c_str(),
               tty_ && !final_line ? "" : "\n");
  std::fflush(stderr);
}

}  // namespace quac
