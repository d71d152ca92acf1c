// What the CPU offers that changes how quac runs a model, for code that must not depend on oneDNN's headers.
#pragma once

namespace quac::kernels {

// VNNI (avx2_vnni, avx512_core_vnni and later): exact INT8 dot products. Without it, oneDNN's INT8 kernels can
// saturate on 8-bit weights, so quac runs those layers in float (see onednn_int8.cc).
bool cpu_has_vnni();

}  // namespace quac::kernels
