#pragma once

// Harness of the end-to-end tests: the REAL binaries (hie-identity, PostgreSQL through
// scripts/pg.sh, redis-server) as child processes on loopback, with mutual TLS, each test in a
// private temporary directory.
//
// Cleanup is guaranteed even when the test process dies (a failed ASSERT, a crash, ctest's
// timeout killing it): Sandbox starts a small janitor process, detached from the test's process
// tree and session, that waits for the test process to close a pipe (which the kernel does when
// the process ends, however it ends) and then SIGKILLs every child process the harness recorded
// (checked by executable path, so a recycled pid is left alone), stops every PostgreSQL cluster
// of the sandbox with `pg_ctl stop -m immediate`, and removes the directory. On a normal end the
// objects below clean up themselves first and the janitor finds nothing to do.
//
// Ports come from FreeTcpPort() (tests/support/test_env.h) and are kept across restarts, so a
// restarted process comes back where its clients expect it.
//
// Threading: start, restart and kill processes from one thread (the test's). Stubs, channels,
// MLLP clients and the helpers at the end are safe to use from any thread.
//
// Environment:
//   HIE_E2E_KEEP=1  keep the sandbox directory (logs, PostgreSQL data) after the test; its path
//                   is printed.

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/types.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hie/identity/v1/identity.grpc.pb.h"
#include "services/common/tls.h"
#include "services/identity/hl7/mllp_server.h"
#include "tests/support/test_env.h"

namespace hie::e2e {

// Runs `argv` (no shell) with stdin from /dev/null and every inherited descriptor above 2
// closed, and waits for it. Returns its exit code (128 + signal when killed); stdout is appended
// to *out when `out` is set, else it goes to the test's stdout. DEADLINE_EXCEEDED (after
// killing its process group) when it runs longer than `timeout`.
[[nodiscard]] absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv,
                                             std::string* out = nullptr,
                                             absl::Duration timeout = absl::Seconds(120));

// The absolute, symlink-free path of a program given by path or found on PATH (or in the
// sbin/bin directories); "" when there is none.
std::string FindProgram(const std::string& name);

// The directory holding PostgreSQL's server programs (pg_ctl...), newest version; "" when
// PostgreSQL is not installed. The same choice as scripts/lib.sh.
std::string PgBinDir();

// Fails the current test when a needed program is missing and HIE_TEST_REQUIRE_SERVERS=1 (CI),
// else skips it. Use at the start of SetUp.
#define HIE_E2E_REQUIRE_PROGRAMS()                                                              \
  do {                                                                                          \
    std::string missing = ::hie::e2e::MissingPrograms();                                        \
    if (!missing.empty()) {                                                                     \
      if (::hie::testing::ServersRequired()) FAIL() << "not installed: " << missing;            \
      GTEST_SKIP() << "not installed: " << missing << " (scripts/install-deps.sh installs it)"; \
    }                                                                                           \
  } while (false)
// "" when PostgreSQL's server programs, redis-server and the hie-identity binary exist; else
// their names.
std::string MissingPrograms();

// A private temporary directory (mode 0755 so that the `postgres` user can reach its
// PostgreSQL subdirectories) with its janitor (see the top of this file).
class Sandbox {
 public:
  // `name` becomes part of the directory name (hie-e2e-<name>-XXXXXX under $TMPDIR or /tmp).
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Sandbox>> Create(const std::string& name);
  ~Sandbox();  // removes the directory (unless HIE_E2E_KEEP=1) and lets the janitor go
  Sandbox(const Sandbox&) = delete;
  Sandbox& operator=(const Sandbox&) = delete;

  const std::string& dir() const { return dir_; }
  std::string Path(const std::string& relative) const { return dir_ + "/" + relative; }

  // Prints the last `lines` lines of every *.log file below the directory to stderr (for test
  // failures).
  void DumpLogs(int lines = 80) const;

  // Recorded children are SIGKILLed by the janitor if the test process dies first.
  void RecordChild(pid_t pid, const std::string& executable);
  void ForgetChild(pid_t pid);

 private:
  Sandbox(std::string dir, int janitor_fd) : dir_(std::move(dir)), janitor_fd_(janitor_fd) {}
  std::string dir_;
  int janitor_fd_;
};

// A child process whose stdout and stderr are appended to a log file.
class ChildProcess {
 public:
  ChildProcess(Sandbox* sandbox, std::vector<std::string> argv, std::string log_path);
  ~ChildProcess() { Kill(); }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  [[nodiscard]] absl::Status Start();
  // Sends `signal` and reaps the process (after `grace` a SIGTERMed process is SIGKILLed).
  // No-op when not running.
  void Kill(int signal = SIGKILL, absl::Duration grace = absl::Seconds(10));
  // True while the process runs; reaps it (and records its status) once it has exited.
  bool Running();
  // The wait status of the exited process; nullopt while it runs or before Start.
  std::optional<int> exit_status() const { return exit_status_; }
  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

 private:
  Sandbox* sandbox_;
  std::vector<std::string> argv_;
  std::string log_path_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
};

// A private PostgreSQL cluster in <sandbox>/<name>, run through scripts/pg.sh (which runs it as
// the `postgres` user when we are root). fsync stays on unless `fast` (the durability tests need
// it on).
class PgCluster {
 public:
  PgCluster(Sandbox* sandbox, std::string name = "pg", bool fast = false);
  ~PgCluster();  // stops it (immediate: the data is thrown away)
  PgCluster(const PgCluster&) = delete;
  PgCluster& operator=(const PgCluster&) = delete;

  // scripts/pg.sh start DIR PORT: initdb on the first call, then start (the same port and data
  // every time). Returns when it accepts connections.
  [[nodiscard]] absl::Status Start();
  // pg_ctl stop -m immediate: every PostgreSQL process quits at once without a checkpoint, as
  // in a crash; the next Start() runs crash recovery.
  [[nodiscard]] absl::Status Crash();
  // scripts/pg.sh stop DIR (a clean, fast shutdown).
  [[nodiscard]] absl::Status Stop();

  const std::string& dsn() const { return dsn_; }
  int port() const { return port_; }
  std::string dir() const { return dir_; }

 private:
  std::string dir_;
  int port_;
  bool fast_;
  std::string dsn_;
};

// A redis-server child process on a free port (no persistence).
class RedisServer {
 public:
  explicit RedisServer(Sandbox* sandbox, std::string name = "redis");
  [[nodiscard]] absl::Status Start();  // returns once it answers PING
  void Kill() { process_.Kill(); }
  int port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

 private:
  int port_;
  ChildProcess process_;
};

struct IdentityConfig {
  std::string pg_dsn;
  std::string redis;                     // "HOST:PORT", or "" for no cache
  std::vector<std::string> extra_flags;  // more --key=value flags
};

// One hie-identity process (binary from the build tree) with its gRPC, MLLP and metrics ports,
// server certificate `identity`, and its JSON-lines log in <sandbox>/<name>.log (appended
// across restarts).
class IdentityProcess {
 public:
  IdentityProcess(Sandbox* sandbox, std::string name, IdentityConfig config);
  ~IdentityProcess() { process_.Kill(); }

  // Starts the process with the same flags and ports every time, then waits until the health
  // service answers SERVING over mTLS (operator certificate). On failure (the process exits, or
  // no SERVING within `timeout`) the error carries the end of the log.
  [[nodiscard]] absl::Status Start(absl::Duration timeout = absl::Seconds(60));
  [[nodiscard]] absl::Status WaitServing(absl::Duration timeout);
  // SIGKILL and reap: a crash.
  void Kill9() { process_.Kill(SIGKILL); }
  // SIGTERM, wait for the process to exit (SIGKILL after 10 s).
  void Terminate() { process_.Kill(SIGTERM); }
  bool Running() { return process_.Running(); }

  int grpc_port() const { return grpc_port_; }
  int hl7_port() const { return hl7_port_; }
  int metrics_port() const { return metrics_port_; }
  const std::string& log_path() const { return process_.log_path(); }
  const std::vector<std::string>& argv() const { return argv_; }

  // A channel to the gRPC port presenting the test certificate `cert` (tests/support
  // TestCertFiles; "" presents none), verifying the server as "localhost" against the test CA.
  // Reconnects quickly (100 ms to 1 s backoff) so that a restarted server is found soon; a
  // channel made before a server (re)start may still wait long: make channels after Start().
  std::shared_ptr<grpc::Channel> Channel(const std::string& cert) const;
  std::unique_ptr<hie::identity::v1::IdentityService::Stub> Stub(
      const std::string& cert = "operator") const;

  // The server's overall health status over mTLS with the operator certificate, on a new
  // connection; nullopt when the check itself fails (process down, no answer within `timeout`).
  std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> Health(
      absl::Duration timeout = absl::Seconds(1));

  // An MLLP client connected to the HL7 port with the test certificate `cert`.
  [[nodiscard]] absl::StatusOr<std::unique_ptr<hie::hl7::MllpClient>> ConnectMllp(
      const std::string& cert, absl::Duration timeout = absl::Seconds(5)) const;

 private:
  IdentityProcess(Sandbox* sandbox, std::string name, const IdentityConfig& config,
                  std::vector<int> ports);
  std::string name_;
  int grpc_port_;
  int hl7_port_;
  int metrics_port_;
  std::vector<std::string> argv_;
  ChildProcess process_;
};

// ---------------------------------------------------------------------------------------------
// The fixture every end-to-end test starts from: a sandbox and a private PostgreSQL (started by
// StartPostgres), hie-identity processes and a Redis added by the test; logs printed when the
// test fails; everything stopped and removed at the end (members are destroyed in reverse
// order: the services first, PostgreSQL, then the directory).
class E2eTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;

  // Starts PostgreSQL (fsync on unless `fast`); fails the test on error.
  void StartPostgres(bool fast = false);
  void StartRedis();
  // A new hie-identity process on the sandbox's PostgreSQL (and Redis with `with_redis`),
  // started and SERVING. Fails the test (returns nullptr) when it does not come up.
  IdentityProcess* StartIdentity(const std::string& name, bool with_redis = false,
                                 std::vector<std::string> extra_flags = {});

  std::unique_ptr<Sandbox> sandbox_;
  std::unique_ptr<PgCluster> pg_;
  std::unique_ptr<RedisServer> redis_;
  std::vector<std::unique_ptr<IdentityProcess>> identities_;
};

// Runs fn(i, thread) for i = 0 ... n - 1 on `threads` threads (thread = 0 ... threads - 1).
void ParallelFor(int n, int threads, const std::function<void(int i, int thread)>& fn);

// ---------------------------------------------------------------------------------------------
// Requests and messages

// A deadline `timeout` from now.
std::unique_ptr<grpc::ClientContext> Deadline(absl::Duration timeout = absl::Seconds(10));

// A request id unique within the test run.
std::string NewRequestId();

// Sets context.purpose_of_use (OPERATIONS) and a unique context.request_id. Writes get their
// idempotency key from the caller.
template <typename Request>
Request WithContext(Request request) {
  request.mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
  request.mutable_context()->set_request_id(NewRequestId());
  return request;
}

hie::common::v1::SourceId Sid(const std::string& org, const std::string& local_id);
std::string SidString(const hie::common::v1::SourceId& id);  // "org/local_id"

// Demographics of a made-up patient, and the same as an HL7 PID segment (PID-3 = `mrn`). Phone,
// street number and SSN differ for every n (below 10 million), and name and birth date vary
// with n, so that two of them are not taken for one person.
struct Patient {
  std::string family;
  std::string given;
  std::string birth_date;  // YYYY-MM-DD
  std::string sex;         // "F" / "M"
  std::string street;
  std::string city;
  std::string zip;
  std::string phone;
  std::string ssn;
};
Patient MadeUpPatient(int n);
hie::common::v1::Demographics DemographicsOf(const Patient& p);
std::string PidSegment(const std::string& mrn, const Patient& p);

// An ADT message (segments end with CR): MSH (MSH-10 = control_id; MSH-18 = charset when not
// empty), EVN, then the given segments.
std::string AdtMessage(const std::string& trigger, const std::string& control_id,
                       const std::vector<std::string>& segments, const std::string& charset = "");

// The ERR segments of an ACK, as written.
std::vector<std::string> ErrSegments(const std::string& ack);

// Names of gRPC status codes, for messages.
std::string CodeName(grpc::StatusCode code);

}  // namespace hie::e2e
