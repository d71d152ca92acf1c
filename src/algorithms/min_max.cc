// MinMaxQuantization and DefaultQuantization (POT names and parameters): quantizer placement, activation statistics
// through taps, ranges from the configured estimators, parameters from the preset. Parameters quac does not
// implement yet are refused with kUnsupported naming them when set to a non-default value: never silently ignored.
#include <algorithm>
#include <cstdio>
#include <limits>

#include "algorithms/activation_channel_alignment.h"
#include "algorithms/algorithm.h"
#include "algorithms/bias_correction.h"
#include "algorithms/default_quantization.h"
#include "algorithms/smooth_quant.h"
#include "quant/calibrate.h"
#include "quant/placement.h"
#include "quant/scope.h"
#include "quant/transformer_scope.h"

namespace quac::algorithms {
namespace {

struct MinMaxParams {
  std::string preset = "performance";
  quant::PlacementOptions placement;
  quant::CalibrationOptions calibration;
  quant::ParameterConfig parameters;  // modes and explicit levels of weights and activations
  bool use_fast_bias = true;
  bool is_default_quantization = false;
  bool transformer = false;
  bool channel_alignment = true;   // DefaultQuantization only (POT runs ActivationChannelAlignment first)
  double smooth_quant_alpha = -1;  // < 0: no SmoothQuant
};

quant::StatConfig read_stat(config::ParamReader r, quant::StatConfig base) {
  base.type = r.get<std::string>("type", base.type);
  base.aggregator = r.get<std::string>("aggregator", base.aggregator);
  base.outlier_prob = r.get<double>("outlier_prob", base.outlier_prob);
  if (auto c = r.optional<double>("clipping_value")) base.clipping_value = *c;
  r.accept("granularity");
  r.finish();
  return base;
}

quant::RangeEstimatorConfig read_range_estimator(config::ParamReader r) {
  quant::RangeEstimatorConfig c = quant::range_estimator_preset(r.get<std::string>("preset", "default"));
  if (r.has("min")) c.min = read_stat(r.object("min"), c.min);
  if (r.has("max")) c.max = read_stat(r.object("max"), c.max);
  r.finish();
  quant::validate(c);
  return c;
}

void unsupported_unless(bool ok, const std::string& path, const std::string& what) {
  if (!ok) QUAC_THROW(kUnsupported, path, ": ", what, " is not implemented yet in quac");
}

// POT's per-kind quantizer parameters: bits, mode, level_low/level_high (both or neither), over the preset's
// defaults in `mode`. Returns the bits.
int read_mode(config::ParamReader& r, int default_bits, quant::QuantizerMode& mode) {
  int bits = r.get<int>("bits", default_bits);
  QUAC_CHECK(bits >= 2 && bits <= 16, kInvalidArgument, r.path(), ".bits must be between 2 and 16, got ", bits);
  std::string m = r.get<std::string>("mode", mode.symmetric ? "symmetric" : "asymmetric");
  QUAC_CHECK(m == "symmetric" || m == "asymmetric", kInvalidArgument, r.path(), ".mode: '", m,
             "' is not one of symmetric, asymmetric");
  mode.symmetric = m == "symmetric";
  auto lo = r.optional<int64_t>("level_low"), hi = r.optional<int64_t>("level_high");
  QUAC_CHECK(lo.has_value() == hi.has_value(), kInvalidArgument, r.path(),
             ": level_low and level_high go together (one is missing)");
  if (lo) {
    QUAC_CHECK(*lo < *hi && *hi - *lo < (int64_t{1} << bits), kInvalidArgument, r.path(), ": levels [", *lo, ", ", *hi,
               "] must be increasing and fit ", bits, " bits");
    QUAC_CHECK(*lo >= -32768 && *hi <= 65535 && (*lo >= 0 || *hi <= 32767), kInvalidArgument, r.path(), ": levels [",
               *lo, ", ", *hi, "] do not fit a 16-bit integer type");
    mode.level_low = lo;
    mode.level_high = hi;
  }
  return bits;
}

MinMaxParams read_params(config::ParamReader& r, bool is_default) {
  MinMaxParams p;
  p.is_default_quantization = is_default;
  p.preset = r.get<std::string>("preset", "performance");
  if (p.preset != "performance" && p.preset != "mixed" && p.preset != "accuracy")
    QUAC_THROW(kInvalidArgument, r.path(), ".preset: '", p.preset, "' is not one of performance, mixed, accuracy");
  p.parameters = quant::preset_parameters(p.preset);
  p.placement.target_device = r.get<std::string>("target_device", "ANY");
  // GNA (POT's hardware config): activations in 16 bits; weights in 8 bits (performance, mixed) or 16 (accuracy,
  // "the whole model in INT16"); symmetric quantizers only. 16-bit quantizers are written as com.microsoft
  // QuantizeLinear/DequantizeLinear (see quant/qdq.h).
  bool gna = p.placement.target_device == "GNA";
  if (gna) p.parameters = {};
  int default_weight_bits = gna && p.preset == "accuracy" ? 16 : 8, default_activation_bits = gna ? 16 : 8;
  p.placement.hardware_config = r.get<std::string>("hardware_config", "");  // a JSON file replacing the built-in one
  p.placement.preset = p.preset == "accuracy" ? "performance" : p.preset;
  p.calibration.stat_subset_size = r.get<size_t>("stat_subset_size", 300);
  p.calibration.stat_batch_size = r.get<size_t>("stat_batch_size", 1);
  p.calibration.shuffle_data = r.get<bool>("shuffle_data", false);
  p.calibration.seed = r.get<uint64_t>("seed", 0);
  QUAC_CHECK(p.calibration.stat_subset_size > 0, kInvalidArgument, r.path(), ".stat_subset_size must be positive");
  p.use_fast_bias = r.get<bool>("use_fast_bias", true);
  // quac's switch (POT always runs it in DefaultQuantization): off to measure what the alignment brings.
  if (is_default) p.channel_alignment = r.get<bool>("activation_channel_alignment", true);
  r.get<bool>("inplace_statistics", true);  // memory behaviour only: quac always streams statistics
  unsupported_unless(!r.get<bool>("use_layerwise_tuning", false), r.path() + ".use_layerwise_tuning",
                     "layer-wise tuning");
  auto model_type = r.optional<std::string>("model_type");
  QUAC_CHECK(!model_type || *model_type == "transformer", kInvalidArgument, r.path(), ".model_type: '",
             model_type.value_or(""), "' is not transformer (or absent)");
  p.transformer = model_type.has_value();
  // SmoothQuant before quantization, for transformers (NNCF's AdvancedSmoothQuantParameters); negative: off.
  p.smooth_quant_alpha = r.get<double>("smooth_quant_alpha", p.transformer ? 0.5 : -1.0);
  QUAC_CHECK(p.smooth_quant_alpha <= 1, kInvalidArgument, r.path(), ".smooth_quant_alpha must be at most 1");
  p.placement.saturation_fix = r.get<std::string>("saturation_fix", "first_layer");
  if (p.placement.saturation_fix != "first_layer" && p.placement.saturation_fix != "all" &&
      p.placement.saturation_fix != "no")
    QUAC_THROW(kInvalidArgument, r.path(), ".saturation_fix: '", p.placement.saturation_fix,
               "' is not one of first_layer, all, no");
  auto ignored = r.object("ignored");
  p.placement.ignored.names = ignored.get<std::vector<std::string>>("scope", {});
  // NNCF's IgnoredScope(patterns=...): node names matching a regular expression (full match).
  p.placement.ignored.name_regexes = ignored.get<std::vector<std::string>>("patterns", {});
  for (auto op : ignored.objects("operations")) {
    quant::OperationPattern pattern;
    pattern.type = op.required<std::string>("type");
    if (op.has("attributes")) {
      const auto& attrs = op.json().at("attributes");
      QUAC_CHECK(attrs.is_object(), kInvalidArgument, op.path(), ".attributes must be an object");
      for (const auto& [name, v] : attrs.items()) {
        quant::AttributeValue value;
        if (v.is_string()) {
          value.is_text = true;
          value.text = v.get<std::string>();
        } else if (v.is_number()) {
          value.numbers = {v.get<double>()};
        } else if (v.is_array() && std::all_of(v.begin(), v.end(), [](const auto& e) { return e.is_number(); })) {
          for (const auto& e : v) value.numbers.push_back(e.get<double>());
        } else {
          QUAC_THROW(kInvalidArgument, op.path(), ".attributes.", name,
                     ": expected a number, a list of numbers or a string, got ", v.dump());
        }
        pattern.attributes[name] = value;
      }
    }
    op.accept("attributes");
    op.finish();
    if (pattern.attributes.empty())
      p.placement.ignored.types.push_back(pattern.type);
    else
      p.placement.ignored.operations.push_back(pattern);
  }
  ignored.finish();
  auto weights = r.object("weights");
  p.placement.weight_bits = read_mode(weights, default_weight_bits, p.parameters.weights);
  std::string wg = weights.get<std::string>("granularity", "perchannel");
  QUAC_CHECK(wg == "perchannel" || wg == "pertensor", kInvalidArgument, weights.path(),
             ".granularity must be perchannel or pertensor");
  p.placement.per_channel_weights = wg == "perchannel";
  if (weights.has("range_estimator")) {
    auto re = weights.object("range_estimator");
    re.accept("max");
    re.accept("min");
    re.accept("preset");
    re.finish();
  }
  weights.finish();
  auto activations = r.object("activations");
  p.placement.activation_bits = read_mode(activations, default_activation_bits, p.parameters.activations);
  unsupported_unless(activations.get<std::string>("granularity", "pertensor") == "pertensor",
                     activations.path() + ".granularity", "per-channel activations");
  if (activations.has("range_estimator"))
    p.calibration.activation_range = read_range_estimator(activations.object("range_estimator"));
  activations.finish();
  return p;
}

class MinMaxQuantization : public Algorithm {
 public:
  explicit MinMaxQuantization(MinMaxParams params) : p_(std::move(params)) {}
  // SmoothQuant and ActivationChannelAlignment: the FP32 model that is quantized (see default_quantization.h).
  // The statistics settings of the other passes over the calibration data (SmoothQuant, channel alignment, bias
  // correction): this algorithm's subset, in batches of at least 32.
  template <typename Options>
  Options statistics_options(const Engine& engine) const {
    Options o;
    o.stat_subset_size = p_.calibration.stat_subset_size;
    o.stat_batch_size = std::max<size_t>(p_.calibration.stat_batch_size, 32);
    o.shuffle_data = p_.calibration.shuffle_data;
    o.seed = p_.calibration.seed;
    o.num_threads = engine.options().num_threads;
    return o;
  }
  // A graph transform run before quantization also leaves this algorithm's ignored nodes alone.
  template <typename Options>
  Options transform_options(const Engine& engine) const {
    Options o = statistics_options<Options>(engine);
    o.ignored_nodes = p_.placement.ignored.names;
    return o;
  }

  Model prepare(const Model& input, Engine& engine) const {
    Model model(input.ir_ptr());
    if (p_.smooth_quant_alpha >= 0) {
      auto sq = transform_options<SmoothQuantOptions>(engine);
      sq.alpha = p_.smooth_quant_alpha;
      model = smooth_quant(model, engine.dataset(), sq);
    }
    if (p_.is_default_quantization && p_.channel_alignment) {
      // POT's DefaultQuantization: ActivationChannelAlignment, then MinMaxQuantization, then the bias correction.
      // After SmoothQuant (NNCF's order: SmoothQuant, channel alignment, min-max, bias correction).
      model = align_activation_channels(model, engine.dataset(), transform_options<ChannelAlignmentOptions>(engine));
    }
    return model;
  }

  Model run(const Model& input, Engine& engine) override {
    Model model = prepare(input, engine);
    quant::PlacementOptions placement = p_.placement;
    if (p_.transformer) quant::add_transformer_ignored(model.ir().graph, placement.ignored);
    if (model.opset() < 13) placement.per_channel_weights = false;  // per-axis QDQ needs opset 13
    auto scope = std::make_shared<quant::QuantizationScope>(quant::place_quantizers(model.ir().graph, placement));
    quant::CalibrationOptions calibration = p_.calibration;
    calibration.num_threads = engine.options().num_threads;
    calibration.progress = engine.options().progress;
    // Statistics are always gathered on the FP32 graph, whatever the input model's scope.
    quant::collect_activation_ranges(Model(model.ir_ptr()), engine.dataset(), *scope, calibration);
    quant::compute_weight_ranges(model.ir().graph, *scope);
    quant::compute_parameters(*scope, p_.parameters);
    Model quantized = model.with_scope(scope);
    if (!p_.is_default_quantization) return quantized;
    // DefaultQuantization as POT sequences it: MinMaxQuantization, then FastBiasCorrection (use_fast_bias) or
    // BiasCorrection on the same calibration subset.
    if (p_.use_fast_bias) return fast_bias_correction(quantized, engine.dataset(), bias_options(engine));
    return bias_correction(quantized, engine.dataset(), bias_options(engine));
  }

  bool full_bias_correction() const { return p_.is_default_quantization && !p_.use_fast_bias; }

  BiasCorrectionOptions bias_options(const Engine& engine) const {
    return statistics_options<BiasCorrectionOptions>(engine);
  }

 private:
  MinMaxParams p_;
};

QUAC_REGISTER_ALGORITHM("MinMaxQuantization", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  return std::make_unique<MinMaxQuantization>(read_params(r, false));
});
QUAC_REGISTER_ALGORITHM("DefaultQuantization", [](config::ParamReader& r) -> std::unique_ptr<Algorithm> {
  return std::make_unique<MinMaxQuantization>(read_params(r, true));
});

}  // namespace

Model prepare_fp32_model(const std::string& algorithm, const nlohmann::json& params, const Model& model, Engine& engine,
                         const std::string& path) {
  QUAC_CHECK(algorithm == "MinMaxQuantization" || algorithm == "DefaultQuantization", kInvalidArgument, path, ": '",
             algorithm, "' is not MinMaxQuantization or DefaultQuantization");
  config::ParamReader reader(params, path);
  MinMaxQuantization algo(read_params(reader, algorithm == "DefaultQuantization"));
  reader.finish();
  return algo.prepare(model, engine);
}

std::function<Model(const Model&)> bias_correction_for_variants(const std::string& algorithm,
                                                                const nlohmann::json& params, Engine& engine,
                                                                const std::string& path) {
  if (algorithm != "DefaultQuantization") return {};
  config::ParamReader reader(params, path);
  auto algo = std::make_shared<MinMaxQuantization>(read_params(reader, true));
  reader.finish();
  if (!algo->full_bias_correction()) return {};
  return [algo, &engine](const Model& variant) {
    return bias_correction(variant, engine.dataset(), algo->bias_options(engine));
  };
}

}  // namespace quac::algorithms
