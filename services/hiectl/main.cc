// hiectl: the command-line client of HIE operators and administrators.
//
//   hiectl health          [--service NAME]
//   hiectl register        --org O --local-id ID [--given G --middle M --family F --sex S
//                          --birth-date YYYY-MM-DD --address-line L --city C --state S
//                          --postal-code P --phone N --email E --ssn NNN-NN-NNNN]
//                          [--idempotency-key K] [--validate-only] [--explain]
//   hiectl register        --file FILE.csv [--parallel N] [--validate-only]
//   hiectl resolve         --org O --local-id ID [--target-org X[,Y]] [--include-inactive]
//   hiectl search          [--given G --family F --birth-date D --sex S --postal-code P
//                          --phone N --ssn S ...] [--only-certain] [--max N] [--explain]
//   hiectl review list     [--state open|same|different|obsolete] [--org O] [--person P]
//                          [--order-by create_time|score] [--page-size N] [--page-token T]
//   hiectl review show     TASK_ID
//   hiectl review resolve  TASK_ID (--same | --different) --reason TEXT [--etag E]
//   hiectl link            --org O --local-id ID --person P --reason TEXT [--etag E]
//   hiectl unlink          --org O --local-id ID --reason TEXT [--etag E]
//   hiectl merge           --survivor P1 --merged P2 --reason TEXT [--force]
//   hiectl unmerge         --event E --reason TEXT
//   hiectl person          PERSON_ID [--full]
//   hiectl record          --org O --local-id ID [--version N]
//   hiectl history         (--person P | --org O --local-id ID) [--as-of RFC3339]
//
// Every command takes --target (default localhost:7001), --timeout, --json and the TLS files
// (--tls-ca, --tls-cert, --tls-key; or HIE_TLS_* variables); identity commands also --purpose
// and --user. `hiectl COMMAND --help` lists a command's flags. Exit status: 0 success, 1 the
// server answered with an error (health: not SERVING), 2 usage or transport error.
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
