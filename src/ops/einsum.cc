// Einsum: a general reference. The equation is parsed into labels; every input and the output get a stride per
// label (repeated labels in one input add their strides, which walks the diagonal), then a plain loop runs over the
// output labels and, inside, over the summed labels.
#include <algorithm>
#include <cctype>
#include <map>
#include <string>
#include <vector>

#include "ops/elementwise_util.h"

namespace quac::ops {
namespace {

// Letters keep their character code; ellipsis dimensions get kEllipsis + position, right-aligned across inputs so
// they broadcast like numpy.
constexpr int kEllipsis = 256;

struct Term {
  std::vector<int> letters_before, letters_after;  // around "..."
  bool has_ellipsis = false;
};

Term parse_term(const KernelContext& ctx, const std::string& text) {
  Term t;
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, 3, "...") == 0) {
      if (t.has_ellipsis) ctx.fail("more than one ellipsis in '" + text + "'");
      t.has_ellipsis = true;
      i += 3;
      continue;
    }
    char c = text[i++];
    if (!std::isalpha(static_cast<unsigned char>(c))) ctx.fail(std::string("bad character '") + c + "' in equation");
    (t.has_ellipsis ? t.letters_after : t.letters_before).push_back(static_cast<unsigned char>(c));
  }
  return t;
}

// The labels of a term whose ellipsis covers `ellipsis_dims` dimensions, with `total_ellipsis` the widest ellipsis.
std::vector<int> expand(const Term& t, int64_t ellipsis_dims, int64_t total_ellipsis) {
  std::vector<int> labels = t.letters_before;
  for (int64_t i = 0; i < ellipsis_dims; ++i)
    labels.push_back(kEllipsis + static_cast<int>(total_ellipsis - ellipsis_dims + i));
  labels.insert(labels.end(), t.letters_after.begin(), t.letters_after.end());
  return labels;
}

template <typename T>
void contract(const KernelContext& ctx, const std::vector<const Tensor*>& ins,
              const std::vector<std::vector<int64_t>>& in_strides, const Shape& loop_sizes, size_t num_out, Tensor& y) {
  using C = compute_t<T>;
  using Acc = std::conditional_t<std::is_floating_point_v<C>, double,
                                 std::conditional_t<std::is_signed_v<C>, int64_t, uint64_t>>;
  const size_t k_in = ins.size(), rank = loop_sizes.size();
  std::vector<const T*> data;
  for (const Tensor* t : ins) data.push_back(t->data<T>());
  T* py = y.data<T>();
  int64_t sum_count = 1;
  for (size_t d = num_out; d < rank; ++d) sum_count *= loop_sizes[d];
  parallel_for(y.numel(), ctx.num_threads(), [&](int64_t begin, int64_t end) {
    std::vector<int64_t> base(k_in), off(k_in), idx(rank);
    for (int64_t o = begin; o < end; ++o) {
      std::fill(base.begin(), base.end(), 0);
      for (int64_t rest = o, d = static_cast<int64_t>(num_out); d-- > 0;) {
        int64_t i = rest % loop_sizes[d];
        rest /= loop_sizes[d];
        for (size_t k = 0; k < k_in; ++k) base[k] += i * in_strides[k][d];
      }
      off = base;
      std::fill(idx.begin() + num_out, idx.end(), 0);
      Acc acc{0};
      for (int64_t s = 0; s < sum_count; ++s) {
        Acc prod{1};
        for (size_t k = 0; k < k_in; ++k) prod = static_cast<Acc>(prod * static_cast<Acc>(load(data[k][off[k]])));
        acc = static_cast<Acc>(acc + prod);
        for (size_t d = rank; d-- > num_out;) {  // odometer over the summed labels
          if (++idx[d] < loop_sizes[d]) {
            for (size_t k = 0; k < k_in; ++k) off[k] += in_strides[k][d];
            break;
          }
          for (size_t k = 0; k < k_in; ++k) off[k] -= in_strides[k][d] * (loop_sizes[d] - 1);
          idx[d] = 0;
        }
      }
      py[o] = store<T>(static_cast<C>(acc));
    }
  });
}

void einsum(KernelContext& ctx) {
  std::string eq;
  for (char c : ctx.node().attr_string("equation", ""))
    if (!std::isspace(static_cast<unsigned char>(c))) eq += c;
  const size_t arrow = eq.find("->");
  const std::string lhs = eq.substr(0, arrow);
  std::vector<Term> terms;
  for (size_t start = 0;;) {
    size_t comma = lhs.find(',', start);
    terms.push_back(parse_term(ctx, lhs.substr(start, comma == std::string::npos ? std::string::npos : comma - start)));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  std::vector<const Tensor*> ins;
  for (size_t i = 0; i < ctx.num_inputs(); ++i) ins.push_back(&ctx.in(i));
  if (ins.size() != terms.size())
    ctx.fail("equation has " + std::to_string(terms.size()) + " operands, node has " + std::to_string(ins.size()));
  for (const Tensor* t : ins)
    if (t->dtype() != ins[0]->dtype()) ctx.fail("inputs have different types");

  // Ellipsis widths and the labels of every input dimension.
  std::vector<int64_t> ell(ins.size(), 0);
  int64_t total_ell = 0;
  for (size_t k = 0; k < ins.size(); ++k) {
    int64_t letters = static_cast<int64_t>(terms[k].letters_before.size() + terms[k].letters_after.size());
    ell[k] = ins[k]->rank() - letters;
    if (ell[k] < 0 || (!terms[k].has_ellipsis && ell[k] != 0))
      ctx.fail("operand " + std::to_string(k) + " has rank " + std::to_string(ins[k]->rank()) +
               ", which does not match its subscripts");
    total_ell = std::max(total_ell, ell[k]);
  }
  std::map<int, int64_t> size_of, count;
  std::vector<std::vector<int>> in_labels;
  for (size_t k = 0; k < ins.size(); ++k) {
    in_labels.push_back(expand(terms[k], ell[k], total_ell));
    for (size_t d = 0; d < in_labels[k].size(); ++d) {
      int label = in_labels[k][d];
      int64_t n = ins[k]->dim(static_cast<int64_t>(d));
      ++count[label];
      auto it = size_of.find(label);
      if (it == size_of.end() || it->second == 1)
        size_of[label] = n;
      else if (n != it->second && n != 1)
        ctx.fail("dimension sizes for a subscript differ: " + std::to_string(it->second) + " and " + std::to_string(n));
    }
  }

  std::vector<int> out_labels;
  if (arrow != std::string::npos) {
    Term out = parse_term(ctx, eq.substr(arrow + 2));
    out_labels = expand(out, out.has_ellipsis ? total_ell : 0, total_ell);
    for (size_t i = 0; i < out_labels.size(); ++i) {
      if (!size_of.count(out_labels[i])) ctx.fail("output subscript does not appear in the inputs");
      if (std::count(out_labels.begin(), out_labels.end(), out_labels[i]) > 1) ctx.fail("repeated output subscript");
    }
  } else {
    // Implicit output: the ellipsis dimensions, then the letters that appear once, in alphabetical order.
    for (int64_t i = 0; i < total_ell; ++i) out_labels.push_back(kEllipsis + static_cast<int>(i));
    for (const auto& [label, n] : count)
      if (label < kEllipsis && n == 1) out_labels.push_back(label);
  }

  // Loop order: output labels, then summed labels.
  std::vector<int> loop_labels = out_labels;
  for (const auto& [label, n] : size_of)
    if (std::find(out_labels.begin(), out_labels.end(), label) == out_labels.end()) loop_labels.push_back(label);
  Shape loop_sizes, out_shape;
  for (int label : loop_labels) loop_sizes.push_back(size_of[label]);
  out_shape.assign(loop_sizes.begin(), loop_sizes.begin() + static_cast<int64_t>(out_labels.size()));
  std::vector<std::vector<int64_t>> in_strides(ins.size(), std::vector<int64_t>(loop_labels.size(), 0));
  for (size_t k = 0; k < ins.size(); ++k) {
    auto own = strides_of(ins[k]->shape());
    for (size_t d = 0; d < in_labels[k].size(); ++d) {
      size_t pos =
          static_cast<size_t>(std::find(loop_labels.begin(), loop_labels.end(), in_labels[k][d]) - loop_labels.begin());
      if (ins[k]->dim(static_cast<int64_t>(d)) != 1) in_strides[k][pos] += own[d];
    }
  }
  Tensor& y = ctx.allocate_output(0, ins[0]->dtype(), out_shape);
  QUAC_EW_DISPATCH_NUMERIC(ins[0]->dtype(), ctx, contract<T>(ctx, ins, in_strides, loop_sizes, out_labels.size(), y));
}

}  // namespace

QUAC_REGISTER_REFERENCE_OP("Einsum", einsum);

}  // namespace quac::ops
