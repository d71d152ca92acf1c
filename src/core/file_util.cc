#include "core/file_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "quac/error.h"

namespace quac {

std::string read_file(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) QUAC_THROW(kIoError, path, ": no such file");
  if (std::filesystem::is_directory(path, ec)) QUAC_THROW(kIoError, path, ": is a directory, expected a file");
  std::ifstream in(path, std::ios::binary);
  if (!in) QUAC_THROW(kIoError, path, ": cannot open (", std::strerror(errno), ")");
  in.seekg(0, std::ios::end);
  std::streamoff size = in.tellg();
  if (size < 0) QUAC_THROW(kIoError, path, ": cannot determine size");
  in.seekg(0);
  std::string data(static_cast<size_t>(size), '\0');
  if (size && !in.read(data.data(), size)) QUAC_THROW(kIoError, path, ": read failed");
  return data;
}

void write_file_atomic(const std::string& path, std::string_view contents) {
  std::filesystem::path target(path);
  std::filesystem::path dir = target.has_parent_path() ? target.parent_path() : std::filesystem::path(".");
  std::error_code ec;
  if (!std::filesystem::is_directory(dir, ec)) QUAC_THROW(kIoError, path, ": folder ", dir.string(), " does not exist");
  std::random_device rd;
  std::string tmp = path + ".tmp-" + std::to_string(rd() % 1000000);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) QUAC_THROW(kIoError, path, ": cannot create (", std::strerror(errno), ")");
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      QUAC_THROW(kIoError, path, ": write failed (", std::strerror(err), ")");
    }
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    QUAC_THROW(kIoError, path, ": flush failed (", std::strerror(errno), ")");
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    QUAC_THROW(kIoError, path, ": cannot replace (", std::strerror(err), ")");
  }
}

}  // namespace quac
