// NumPy .npz archives, read with libzip: a zip of one .npy member per array (numpy.savez stores them,
// numpy.savez_compressed deflates them; both may use zip64 records).
#include <zip.h>

#include <memory>

#include "core/npy.h"
#include "eval/dataset_internal.h"

namespace quac::detail {
namespace {

// Members larger than this are refused (a sample is never this big; a hostile header could claim anything).
constexpr zip_uint64_t kMaxMemberBytes = zip_uint64_t{1} << 31;
// Archives with more members than this are refused.
constexpr zip_int64_t kMaxMembers = 1 << 20;

struct ArchiveCloser {
  void operator()(zip_t* z) const { zip_discard(z); }
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;

std::string zip_message(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string message = zip_error_strerror(&error);
  zip_error_fini(&error);
  return message;
}

Archive open_archive(const std::string& path) {
  int code = 0;
  zip_t* z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!z) QUAC_THROW(kDatasetError, path, ": not a readable .npz archive (", zip_message(code), ")");
  return Archive(z);
}

Archive open_archive_bytes(const std::string& bytes, const std::string& label) {
  zip_error_t error;
  zip_error_init(&error);
  zip_source_t* source = zip_source_buffer_create(bytes.data(), bytes.size(), 0, &error);
  if (!source) {
    zip_error_fini(&error);
    QUAC_THROW(kDatasetError, label, ": cannot read archive bytes");
  }
  zip_t* z = zip_open_from_source(source, ZIP_RDONLY | ZIP_CHECKCONS, &error);
  if (!z) {
    std::string message = zip_error_strerror(&error);
    zip_source_free(source);
    zip_error_fini(&error);
    QUAC_THROW(kDatasetError, label, ": not a readable .npz archive (", message, ")");
  }
  zip_error_fini(&error);
  return Archive(z);
}

std::string array_name(const std::string& member) {
  return member.size() > 4 && member.compare(member.size() - 4, 4, ".npy") == 0 ? member.substr(0, member.size() - 4)
                                                                                : member;
}

std::vector<std::string> member_names(zip_t* z, const std::string& label) {
  zip_int64_t n = zip_get_num_entries(z, 0);
  QUAC_CHECK(n >= 0 && n <= kMaxMembers, kDatasetError, label, ": archive has ", n, " members");
  std::vector<std::string> names;
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(z, static_cast<zip_uint64_t>(i), 0);
    QUAC_CHECK(name, kDatasetError, label, ": member ", i, " has no readable name");
    names.emplace_back(name);
  }
  return names;
}

// The decompressed bytes of member `index`; libzip checks the CRC when the member has been read to its end.
std::string read_member(zip_t* z, zip_uint64_t index, const std::string& what) {
  zip_stat_t st;
  zip_stat_init(&st);
  QUAC_CHECK(zip_stat_index(z, index, 0, &st) == 0 && (st.valid & ZIP_STAT_SIZE), kDatasetError, what,
             ": cannot read the member's size (", zip_strerror(z), ")");
  QUAC_CHECK(st.size <= kMaxMemberBytes, kDatasetError, what, ": member of ", st.size, " bytes is over the limit of ",
             kMaxMemberBytes);
  zip_file_t* f = zip_fopen_index(z, index, 0);
  QUAC_CHECK(f, kDatasetError, what, ": cannot open the member (", zip_strerror(z), ")");
  std::string out;
  // Grown as data arrives rather than sized from the (untrusted) header.
  out.reserve(static_cast<size_t>(std::min<zip_uint64_t>(st.size, zip_uint64_t{1} << 24)));
  char buf[1 << 16];
  zip_int64_t got = 0;
  while ((got = zip_fread(f, buf, sizeof buf)) > 0) {
    if (out.size() + static_cast<size_t>(got) > st.size) break;
    out.append(buf, static_cast<size_t>(got));
  }
  std::string message = got < 0 ? zip_file_strerror(f) : "";
  zip_fclose(f);
  QUAC_CHECK(got == 0 && out.size() == st.size, kDatasetError, what, ": corrupt member",
             message.empty() ? std::string() : " (" + message + ")");
  return out;
}

Tensor decode_member(zip_t* z, zip_uint64_t index, const std::string& what) {
  std::string bytes = read_member(z, index, what);
  try {
    return decode_npy(bytes, what);
  } catch (const Error& e) {
    QUAC_THROW(kDatasetError, e.what());
  }
}

}  // namespace

std::vector<std::string> npz_array_names(const std::string& path) {
  Archive z = open_archive(path);
  std::vector<std::string> names;
  for (const auto& m : member_names(z.get(), path)) names.push_back(array_name(m));
  return names;
}

Tensor npz_read_array(const std::string& path, const std::string& name) {
  Archive z = open_archive(path);
  std::vector<std::string> members = member_names(z.get(), path);
  for (size_t i = 0; i < members.size(); ++i)
    if (array_name(members[i]) == name) return decode_member(z.get(), i, path + ":" + name);
  QUAC_THROW(kDatasetError, path, ": no array '", name, "'");
}

std::map<std::string, Tensor> decode_npz(const std::string& bytes, const std::string& label) {
  Archive z = open_archive_bytes(bytes, label);
  std::vector<std::string> members = member_names(z.get(), label);
  std::map<std::string, Tensor> arrays;
  for (size_t i = 0; i < members.size(); ++i)
    arrays[array_name(members[i])] = decode_member(z.get(), i, label + ":" + array_name(members[i]));
  return arrays;
}

}  // namespace quac::detail
