#pragma once

// hiectl's thin adapter: parses the command line with the pure core (commands.h), makes the
// gRPC calls over mutual TLS, and prints with render.h (or JSON). Output goes to std::cout,
// errors to std::cerr.

#include <string>
#include <vector>

namespace hie::hiectl {

// Runs `hiectl args...` (args without the program name). `envp` is a null-terminated
// environment like `environ`. Returns the exit status: 0 success, 1 the server answered with an
// error (or some bulk rows failed), 2 usage or transport error.
int Run(const std::vector<std::string>& args, const char* const* envp);

}  // namespace hie::hiectl
