// Where quantizers go, as a target device's hardware config says (src/quant/hw_configs/*.json, compiled into the
// library; or a user's own file): on the inputs of the ops that run in INT8 (Conv, ConvTranspose, MatMul, Gemm,
// pooling), weights per output channel; on the inputs of Add / Mul where that keeps a block INT8 (their output is
// quantized anyway); never inside a fused pattern (Conv + bias + BN + activations + residual Add + activations: the
// residual's other input, the skip, is quantized with the quantizer that already quantizes that tensor, the conv
// output is not); through quantization-agnostic ops (MaxPool, Reshape, Concat, ...) quantizers propagate up to the
// op's input with the same (unified) scale, so that the op runs on 8-bit values; each tensor is quantized once.
#pragma once

#include <map>
#include <set>
#include <string>
#include <vector>

#include "ir/graph.h"
#include "quant/scope.h"

namespace quac::quant {

// An expected attribute value for POT's ignored.operations [{type, attributes: {name: value}}]: numbers (one for a
// scalar, several for a list) or a string.
struct AttributeValue {
  std::vector<double> numbers;
  std::string text;
  bool is_text = false;
};

struct OperationPattern {
  std::string type;
  std::map<std::string, AttributeValue> attributes;  // all must match (ints exactly, floats to 1e-6 relative)
};

struct IgnoredScope {
  std::vector<std::string> names;         // node names (exact)
  std::vector<std::string> name_regexes;  // node names matching any of these (std::regex, full match)
  std::vector<std::string> types;         // op types
  std::vector<OperationPattern> operations;
};

// Whether `node` matches the pattern (type and every listed attribute).
bool matches(const ir::Node& node, const OperationPattern& pattern);

// A hardware config (one JSON file per target_device; see src/quant/hw_configs/cpu.json for the format).
struct HwQuantizerConfig {
  int bits = 8;
  std::string mode = "symmetric";         // symmetric | asymmetric
  std::string granularity = "pertensor";  // pertensor | perchannel
};
struct HwPreset {
  HwQuantizerConfig activations, weights;
};
struct HwQuantizedOp {
  std::string type;
  bool all_inputs = false;          // "activations": "all" (every non-constant float input)
  std::vector<size_t> activations;  // else these input indices
  std::vector<size_t> weights;      // inputs that are weights when constant (else quantized as activations)
  // "when": "output_quantized": only where the output is quantized anyway, and only when two or more inputs are
  // tensors (an Add / Mul with a constant is a shift or scale, left to run with its neighbours)
  bool when_output_quantized = false;
};
struct HwPatternStep {
  std::set<std::string> types;
  std::set<std::string> gates;  // also y * Gate(y) (Mul of the value and one of these ops applied to it)
  std::string input;            // binary steps: the other input is "constant" or an "activation"; empty: unary
  char repeat = '1';            // '1' (exactly once), '?' (at most once), '*' (any number)
};
struct HwPattern {
  std::string name;
  std::vector<HwPatternStep> steps;
};
struct HardwareConfig {
  std::string target_device;
  std::string source;  // file name or "built-in DEVICE" for messages
  std::map<std::string, HwPreset> presets;
  std::map<std::string, HwQuantizedOp> quantized;
  std::set<std::string> agnostic;        // quantizers propagate through these (data movement, max pooling)
  std::set<std::string> unified_scales;  // agnostic ops whose inputs share one scale (Concat)
  std::vector<HwPattern> patterns;
};

// Parses and validates a config; errors are kInvalidArgument naming `source` and the key.
HardwareConfig parse_hardware_config(const std::string& json_text, const std::string& source);
// The built-in config of ANY, CPU, GPU, VPU or GNA (kInvalidArgument for another name).
HardwareConfig builtin_hardware_config(const std::string& target_device);
// A user's config file (kIoError if unreadable).
HardwareConfig load_hardware_config(const std::string& path);

struct PlacementOptions {
  std::string target_device = "CPU";   // ANY, CPU, GPU, VPU, GNA
  std::string hardware_config;         // a config file to use instead of the built-in one of target_device
  std::string preset = "performance";  // the hardware config's preset giving default bits and modes
  IgnoredScope ignored;
  bool per_channel_weights = true;
  int weight_bits = 8;      // 0: the hardware config preset's
  int activation_bits = 8;  // 0: the hardware config preset's (GNA: 16)
  // POT's saturation_fix: "first_layer" (default), "all" or "no". Where it applies (target_device ANY and CPU, whose
  // non-VNNI INT8 path accumulates pairs of u8*s8 products in int16 and can saturate), weights are quantized to 7
  // bits (levels [-63, 63]) on the ops that read a model input ("first_layer") or on every op ("all").
  std::string saturation_fix = "first_layer";
};

// Places quantizers over `graph` and computes their groups. Throws kInvalidArgument for an unknown device or a
// preset the hardware config does not have.
// The fused patterns (node names, anchor first) of `graph` under a hardware config: the INT8 ops a QDQ file's
// quantizers group into (see quant/recover.h).
std::vector<std::vector<std::string>> match_fused_patterns(const ir::Graph& graph, const HardwareConfig& hw);

QuantizationScope place_quantizers(const ir::Graph& graph, const PlacementOptions& options);

}  // namespace quac::quant
