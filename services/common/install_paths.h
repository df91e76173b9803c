#pragma once

// Where an installed binary finds the data installed with it. `cmake --install` puts the
// binaries in <prefix>/bin and their data in <prefix>/share/hie (GNUInstallDirs' BINDIR and
// DATADIR); the lookup goes from the executable's own location, so the prefix may be anything
// (/usr/local, /opt/hie, a container's /usr/local, a test's temporary directory) and may be moved
// as a whole. A binary run from the build tree finds nothing there and falls back to the source
// tree's copy (its caller decides that default).

#include <string>
#include <string_view>

namespace hie {

// `<directory of this executable>/<DATADIR/hie relative to BINDIR>/<name>`, normalised, when that
// is an existing regular file; "" otherwise (running from the build tree, the file not installed,
// or /proc/self/exe unreadable). Linux only (/proc/self/exe). Thread-safe.
std::string InstalledDataFile(std::string_view name);

}  // namespace hie
