// StringNormalizer and TfIdfVectorizer: text preprocessing ops over string (or integer token) tensors.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "ops/kernel.h"

namespace quac::ops {
namespace {

// ASCII case mapping: the `locale` attribute is accepted but only ASCII letters change case.
std::string map_case(std::string s, bool upper) {
  for (char& c : s) {
    auto u = static_cast<unsigned char>(c);
    c = static_cast<char>(upper ? std::toupper(u) : std::tolower(u));
  }
  return s;
}

// StringNormalizer-10: X [C] or [1, C] -> stopwords removed, case changed. An all-removed input gives one "".
class StringNormalizerKernel : public Kernel {
 public:
  explicit StringNormalizerKernel(const ir::Node& node) {
    std::string action = node.attr_string("case_change_action", "NONE");
    if (action == "LOWER")
      change_ = 1;
    else if (action == "UPPER")
      change_ = 2;
    else if (action != "NONE")
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": unknown case_change_action '", action, "'");
    case_sensitive_ = node.attr_int("is_case_sensitive", 0) != 0;
    for (const auto& w : node.attr_strings("stopwords")) stopwords_.insert(case_sensitive_ ? w : map_case(w, false));
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (x.dtype() != DataType::kString) ctx.fail("X must be a string tensor");
    if (!(x.rank() == 1 || (x.rank() == 2 && x.dim(0) == 1)))
      ctx.fail("X must have shape [C] or [1, C], got " + shape_str(x.shape()));
    std::vector<std::string> kept;
    const std::string* in = x.data<std::string>();
    for (int64_t i = 0; i < x.numel(); ++i) {
      if (stopwords_.count(case_sensitive_ ? in[i] : map_case(in[i], false))) continue;
      kept.push_back(change_ == 0 ? in[i] : map_case(in[i], change_ == 2));
    }
    if (kept.empty()) kept.push_back("");
    auto n = static_cast<int64_t>(kept.size());
    Tensor& out = ctx.allocate_output(0, DataType::kString, x.rank() == 1 ? Shape{n} : Shape{1, n});
    std::copy(kept.begin(), kept.end(), out.data<std::string>());
  }

 private:
  int change_ = 0;  // 0 none, 1 lower, 2 upper
  bool case_sensitive_ = false;
  std::set<std::string> stopwords_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "StringNormalizer",
                      .impl = "reference",
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<StringNormalizerKernel>(info.node);
                      }});

// TfIdfVectorizer-9: counts the pool's n-grams (with skips) in each row of X and maps them to output columns.
template <typename Token>
class NgramTable {
 public:
  // Pool layout: ngram_counts[n-1] is where the n-grams start in the pool; n-grams are numbered in pool order.
  void build(const ir::Node& node, const std::vector<Token>& pool, const std::vector<int64_t>& counts,
             const std::vector<int64_t>& indexes) {
    size_t ordinal = 0;
    for (size_t level = 0; level < counts.size(); ++level) {
      const auto n = static_cast<int64_t>(level + 1);
      const int64_t start = counts[level];
      const int64_t end = level + 1 < counts.size() ? counts[level + 1] : static_cast<int64_t>(pool.size());
      if (start < 0 || end < start || end > static_cast<int64_t>(pool.size()) || (end - start) % n != 0)
        QUAC_THROW(kInvalidModel, "node ", node.describe(), ": ngram_counts do not partition the pool");
      for (int64_t p = start; p < end; p += n, ++ordinal) {
        if (ordinal >= indexes.size())
          QUAC_THROW(kInvalidModel, "node ", node.describe(), ": more n-grams in the pool than ngram_indexes");
        std::vector<Token> key(pool.begin() + p, pool.begin() + p + n);
        map_[key] = indexes[ordinal];
      }
    }
  }

  // Adds the counts of one row's n-grams (lengths min_n..max_n, skip distances 1..max_skip+1) to `freq`.
  void count(const std::vector<Token>& row, int64_t min_n, int64_t max_n, int64_t max_skip,
             std::vector<double>& freq) const {
    const auto len = static_cast<int64_t>(row.size());
    std::vector<Token> key;
    for (int64_t start = 0; start < len; ++start) {
      if (min_n <= 1 && max_n >= 1) add({row[static_cast<size_t>(start)]}, freq);
      for (int64_t dist = 1; dist <= max_skip + 1; ++dist) {
        for (int64_t n = std::max<int64_t>(2, min_n); n <= max_n; ++n) {
          if (start + (n - 1) * dist >= len) break;
          key.clear();
          for (int64_t k = 0; k < n; ++k) key.push_back(row[static_cast<size_t>(start + k * dist)]);
          add(key, freq);
        }
      }
    }
  }

 private:
  void add(const std::vector<Token>& key, std::vector<double>& freq) const {
    auto it = map_.find(key);
    if (it != map_.end()) freq[static_cast<size_t>(it->second)] += 1;
  }
  std::map<std::vector<Token>, int64_t> map_;
};

class TfIdfKernel : public Kernel {
 public:
  explicit TfIdfKernel(const ir::Node& node) {
    min_n_ = node.attr_int("min_gram_length", 1);
    max_n_ = node.attr_int("max_gram_length", 1);
    max_skip_ = node.attr_int("max_skip_count", 0);
    if (min_n_ < 1 || max_n_ < min_n_ || max_skip_ < 0)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": invalid n-gram lengths or skip count");
    std::string mode = node.attr_string("mode", "TF");
    mode_ = mode == "TF" ? 0 : mode == "IDF" ? 1 : mode == "TFIDF" ? 2 : -1;
    if (mode_ < 0) QUAC_THROW(kInvalidModel, "node ", node.describe(), ": unknown mode '", mode, "'");
    std::vector<int64_t> counts = node.attr_ints("ngram_counts"), indexes = node.attr_ints("ngram_indexes");
    for (int64_t i : indexes)
      if (i < 0) QUAC_THROW(kInvalidModel, "node ", node.describe(), ": negative ngram_indexes value");
    width_ = indexes.empty() ? 0 : *std::max_element(indexes.begin(), indexes.end()) + 1;
    weights_ = node.attr_floats("weights");
    if (!weights_.empty() && static_cast<int64_t>(weights_.size()) < width_)
      QUAC_THROW(kInvalidModel, "node ", node.describe(), ": fewer weights than output columns");
    if (node.has("pool_strings")) {
      strings_ = true;
      str_table_.build(node, node.attr_strings("pool_strings"), counts, indexes);
    } else {
      int_table_.build(node, node.attr_ints("pool_int64s"), counts, indexes);
    }
  }

  void run(KernelContext& ctx) override {
    const Tensor& x = ctx.in(0);
    if (x.rank() != 1 && x.rank() != 2) ctx.fail("X must be [C] or [N, C], got " + shape_str(x.shape()));
    if (strings_ != (x.dtype() == DataType::kString))
      ctx.fail("X's element type does not match the pool (pool_strings vs pool_int64s)");
    if (!strings_ && x.dtype() != DataType::kInt32 && x.dtype() != DataType::kInt64)
      ctx.fail(std::string("X must be int32, int64 or string, got ") + dtype_name(x.dtype()));
    const int64_t rows = x.rank() == 2 ? x.dim(0) : 1, cols = x.dim(-1);
    Tensor& out = ctx.allocate_output(0, DataType::kFloat, x.rank() == 2 ? Shape{rows, width_} : Shape{width_});
    std::vector<double> freq(static_cast<size_t>(width_));
    for (int64_t r = 0; r < rows; ++r) {
      std::fill(freq.begin(), freq.end(), 0.0);
      if (strings_) {
        const std::string* p = x.data<std::string>() + r * cols;
        str_table_.count(std::vector<std::string>(p, p + cols), min_n_, max_n_, max_skip_, freq);
      } else {
        std::vector<int64_t> row(static_cast<size_t>(cols));
        for (int64_t c = 0; c < cols; ++c) row[static_cast<size_t>(c)] = x.scalar_as_int(r * cols + c);
        int_table_.count(row, min_n_, max_n_, max_skip_, freq);
      }
      float* o = out.data<float>() + r * width_;
      for (int64_t i = 0; i < width_; ++i) {
        double f = freq[static_cast<size_t>(i)];
        double w = weights_.empty() ? 1.0 : weights_[static_cast<size_t>(i)];
        if (mode_ == 1) f = f > 0 ? w : 0;  // IDF
        if (mode_ == 2) f *= w;             // TFIDF
        o[i] = static_cast<float>(f);
      }
    }
  }

 private:
  int64_t min_n_ = 1, max_n_ = 1, max_skip_ = 0, width_ = 0;
  int mode_ = 0;
  bool strings_ = false;
  std::vector<float> weights_;
  NgramTable<int64_t> int_table_;
  NgramTable<std::string> str_table_;
};

QUAC_REGISTER_KERNEL({.domain = "",
                      .op_type = "TfIdfVectorizer",
                      .impl = "reference",
                      .factory = [](const KernelInfo& info, std::string*) -> std::unique_ptr<Kernel> {
                        return std::make_unique<TfIdfKernel>(info.node);
                      }});

}  // namespace
}  // namespace quac::ops
