// hiectl: the command-line client of HIE operators and administrators.
//
//   hiectl COMMAND [FLAGS]     `hiectl --help` lists the commands, `hiectl COMMAND --help`
//                             a command's flags: both come from the one command table
//                             (CommandSpecs() in commands.cc), as does the dispatch.
//
// Every command takes --target (default localhost:7001; audit 7005, consent 7004, registry 7003,
// locator 7002), --timeout, --json and the TLS files (--tls-ca, --tls-cert, --tls-key; or
// HIE_TLS_* variables; audit and consent default to the auditor certificate); identity, locator
// and registry commands also --purpose and --user.
// Exit status: 0 success, 1 the server answered with an error (health: not SERVING), 2 usage or
// transport error, 3 an alarm (audit verify: chain not VALID).
//
// The work is done in cli.cc (gRPC calls), commands.cc (flags -> requests, CSV) and render.cc
// (tables); see README.md.

#include <unistd.h>  // environ

#include <string>
#include <vector>

#include "services/common/logging.h"
#include "services/hiectl/cli.h"

int main(int argc, char** argv) {
  hie::SetLogService("hiectl");
  std::vector<std::string> args(argv + 1, argv + argc);
  return hie::hiectl::Run(args, environ);
}
