# Writes OUT, a C++ source defining quac::quant::embedded_hardware_configs(): each *.json of DIR as a (device, text)
# pair, the device being the file name in upper case. Run by the build (see CMakeLists.txt) whenever a file changes.
file(GLOB files ${DIR}/*.json)
list(SORT files)
set(body "")
foreach(f ${files})
  get_filename_component(stem ${f} NAME_WE)
  string(TOUPPER ${stem} device)
  file(READ ${f} text)
  string(APPEND body "      {\"${device}\", R\"quac_hw(${text})quac_hw\"},\n")
endforeach()
file(WRITE ${OUT}.tmp "// Generated from src/quant/hw_configs/*.json by embed.cmake: do not edit.\n"
  "#include <string>\n#include <utility>\n#include <vector>\n\n"
  "namespace quac::quant {\n\n"
  "const std::vector<std::pair<std::string, std::string>>& embedded_hardware_configs() {\n"
  "  static const std::vector<std::pair<std::string, std::string>> configs = {\n${body}  };\n"
  "  return configs;\n}\n\n}  // namespace quac::quant\n")
file(COPY_FILE ${OUT}.tmp ${OUT} ONLY_IF_DIFFERENT)
