#include "services/common/install_paths.h"

#include <filesystem>
#include <system_error>

// Set by services/common/CMakeLists.txt from GNUInstallDirs ("../share/hie" by default).
#ifndef HIE_INSTALL_DATA_FROM_BIN
#define HIE_INSTALL_DATA_FROM_BIN "../share/hie"
#endif

namespace hie {

std::string InstalledDataFile(std::string_view name) {
  std::error_code error;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) return "";
  const std::filesystem::path file =
      (exe.parent_path() / HIE_INSTALL_DATA_FROM_BIN / std::filesystem::path(name))
          .lexically_normal();
  if (!std::filesystem::is_regular_file(file, error)) return "";
  return file.string();
}

}  // namespace hie
