#include "core/npy.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <regex>

#include "core/file_util.h"

namespace quac {
namespace {

struct NpyType {
  const char* descr;
  DataType type;
};
constexpr NpyType kTypes[] = {
    {"<f4", DataType::kFloat},  {"<f8", DataType::kDouble}, {"<f2", DataType::kFloat16}, {"|i1", DataType::kInt8},
    {"|u1", DataType::kUInt8},  {"<i2", DataType::kInt16},  {"<u2", DataType::kUInt16},  {"<i4", DataType::kInt32},
    {"<u4", DataType::kUInt32}, {"<i8", DataType::kInt64},  {"<u8", DataType::kUInt64},  {"|b1", DataType::kBool},
};

DataType parse_descr(const std::string& descr, const std::string& path) {
  for (const auto& t : kTypes)
    if (descr == t.descr) return t.type;
  // Single-byte types may be written with '<' or '=' instead of '|'.
  if (descr.size() == 3 && (descr[0] == '<' || descr[0] == '=') && descr[2] == '1') {
    std::string alt = "|" + descr.substr(1);
    for (const auto& t : kTypes)
      if (alt == t.descr) return t.type;
  }
  QUAC_THROW(kInvalidArgument, path, ": unsupported .npy dtype '", descr, "' (little-endian numeric types only)");
}

const char* descr_of(DataType type) {
  for (const auto& t : kTypes)
    if (t.type == type) return t.descr;
  QUAC_THROW(kInvalidArgument, "cannot write a ", dtype_name(type), " tensor as .npy");
}

struct Mapping {
  void* addr;
  size_t size;
  ~Mapping() {
    if (addr && addr != MAP_FAILED) ::munmap(addr, size);
  }
};

}  // namespace

namespace {

// Parses a whole .npy image of `size` bytes at `bytes`. With `owner` set, aligned data is shared with it (no copy);
// otherwise the data is always copied.
Tensor parse_npy(const unsigned char* bytes, size_t size, const std::shared_ptr<void>& owner, const std::string& path) {
  if (size < 10) QUAC_THROW(kInvalidArgument, path, ": not a .npy file (too short)");
  if (std::memcmp(bytes, "\x93NUMPY", 6) != 0) QUAC_THROW(kInvalidArgument, path, ": not a .npy file (bad magic)");
  int major = bytes[6];
  size_t header_len, header_start;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) QUAC_THROW(kInvalidArgument, path, ": truncated .npy header");
    header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<size_t>(bytes[11]) << 24);
    header_start = 12;
  } else {
    QUAC_THROW(kInvalidArgument, path, ": unsupported .npy version ", major);
  }
  if (header_len > size - header_start) QUAC_THROW(kInvalidArgument, path, ": truncated .npy header");
  std::string header(reinterpret_cast<const char*>(bytes + header_start), header_len);
  std::smatch m;
  static const std::regex descr_re(R"('descr'\s*:\s*'([^']*)')");
  static const std::regex order_re(R"('fortran_order'\s*:\s*(True|False))");
  static const std::regex shape_re(R"('shape'\s*:\s*\(([^)]*)\))");
  if (!std::regex_search(header, m, descr_re)) QUAC_THROW(kInvalidArgument, path, ": .npy header has no descr");
  DataType type = parse_descr(m[1], path);
  if (!std::regex_search(header, m, order_re)) QUAC_THROW(kInvalidArgument, path, ": .npy header has no fortran_order");
  if (m[1] == "True") QUAC_THROW(kInvalidArgument, path, ": Fortran-order .npy arrays are not supported");
  if (!std::regex_search(header, m, shape_re)) QUAC_THROW(kInvalidArgument, path, ": .npy header has no shape");
  Shape shape;
  std::string dims = m[1];
  static const std::regex num_re(R"(\d+)");
  for (auto it = std::sregex_iterator(dims.begin(), dims.end(), num_re); it != std::sregex_iterator(); ++it) {
    const std::string s = it->str();
    if (s.size() > 15) QUAC_THROW(kInvalidArgument, path, ": .npy dimension too large");
    shape.push_back(std::stoll(s));
  }
  size_t data_start = header_start + header_len;
  size_t n = 0;
  try {
    n = static_cast<size_t>(shape_numel(shape));
  } catch (const Error&) {
    QUAC_THROW(kInvalidArgument, path, ": .npy shape ", shape_str(shape), " is too large");
  }
  if (n > (size - data_start) / dtype_size(type))
    QUAC_THROW(kInvalidArgument, path, ": .npy data is truncated (", size - data_start, " bytes for shape ",
               shape_str(shape), " of ", dtype_name(type), ")");
  size_t want = n * dtype_size(type);
  const void* data = bytes + data_start;
  if (!owner || reinterpret_cast<uintptr_t>(data) % 64 != 0) {
    // Unaligned data (header not padded to 64) is copied once so kernels can rely on alignment.
    Tensor t(type, shape);
    if (want) std::memcpy(t.raw_data(), data, want);
    return t;
  }
  // Mapped pages are private and copy-on-write, so a kernel never writes through to the file.
  return Tensor::wrap(type, shape, const_cast<void*>(data), owner);
}

}  // namespace

Tensor read_npy(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) QUAC_THROW(kIoError, path, ": cannot open (", std::strerror(errno), ")");
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    QUAC_THROW(kIoError, path, ": not a regular file");
  }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 10) {
    ::close(fd);
    QUAC_THROW(kInvalidArgument, path, ": not a .npy file (too short)");
  }
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (addr == MAP_FAILED) QUAC_THROW(kIoError, path, ": cannot map (", std::strerror(errno), ")");
  std::shared_ptr<Mapping> mapping(new Mapping{addr, size});
  return parse_npy(static_cast<const unsigned char*>(addr), size, mapping, path);
}

Tensor decode_npy(const std::string& bytes, const std::string& label) {
  return parse_npy(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), nullptr, label);
}

std::string encode_npy(const Tensor& tensor) {
  std::string header = std::string("{'descr': '") + descr_of(tensor.dtype()) + "', 'fortran_order': False, 'shape': (";
  for (size_t i = 0; i < tensor.shape().size(); ++i) header += std::to_string(tensor.shape()[i]) + ", ";
  if (tensor.shape().size() > 1)
    header.resize(header.size() - 2);
  else if (tensor.shape().size() == 1)
    header.resize(header.size() - 1);
  header += "), }";
  size_t total = 10 + header.size() + 1;
  header.append((64 - total % 64) % 64, ' ');
  header += '\n';
  std::string out = "\x93NUMPY";
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(tensor.raw_data()), tensor.nbytes());
  return out;
}

void write_npy(const std::string& path, const Tensor& tensor) { write_file_atomic(path, encode_npy(tensor)); }

}  // namespace quac
