#include "tests/e2e/e2e_harness.h"

#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "services/common/redis/redis_client.h"
#include "services/common/status.h"
#include "tests/support/test_env.h"

extern char** environ;

namespace hie::e2e {
namespace {

namespace fs = std::filesystem;

// Closes every descriptor from 3 up; for a child between fork and exec (async-signal-safe).
void CloseInheritedDescriptors() {
  if (close_range(3, ~0U, 0) == 0) return;
  for (int fd = 3; fd < 4096; ++fd) close(fd);
}

std::string EnvOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value == nullptr || *value == '\0' ? fallback : value;
}

std::string TailOfFile(const std::string& path, int lines) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  size_t from = all.size() > static_cast<size_t>(lines) ? all.size() - lines : 0;
  std::string out;
  for (size_t i = from; i < all.size(); ++i) absl::StrAppend(&out, all[i], "\n");
  return out;
}

// Commands that must run as the `postgres` user when we are root (PostgreSQL refuses root).
std::vector<std::string> AsPostgres(std::vector<std::string> argv) {
  if (geteuid() != 0) return argv;
  std::vector<std::string> wrapped = {"runuser", "-u", "postgres", "--"};
  wrapped.insert(wrapped.end(), argv.begin(), argv.end());
  return wrapped;
}

// The environment of a child: ours without HIE_* variables, so that a developer's or CI's
// HIE_REDIS, HIE_MODEL_PARAMS... never configure a process the test starts with explicit flags.
std::vector<std::string> ChildEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (absl::StartsWith(*e, "HIE_")) continue;
    env.emplace_back(*e);
  }
  return env;
}

std::vector<char*> CStrings(std::vector<std::string>& strings) {
  std::vector<char*> out;
  for (std::string& s : strings) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

// The janitor: runs detached from the test process (own session, parent init), waits for the
// test process to close its end of the pipe on stdin, then cleans the sandbox. Arguments: the
// sandbox directory and pg_ctl's path.
constexpr char kJanitorScript[] = R"sh(
dir="$1"; pgctl="$2"
cat >/dev/null
[ -d "$dir" ] || exit 0
for f in "$dir"/pids/*; do
  [ -f "$f" ] || continue
  pid="${f##*/}"
  if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(cat "$f")" ]; then kill -9 "$pid"; fi
done 2>/dev/null
for pidfile in "$dir"/*/data/postmaster.pid; do
  [ -f "$pidfile" ] && [ -n "$pgctl" ] || continue
  data="${pidfile%/postmaster.pid}"
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$pgctl" -D "$data" -m immediate -w stop
  else
    "$pgctl" -D "$data" -m immediate -w stop
  fi
done >/dev/null 2>&1
[ -e "$dir/keep" ] || rm -rf "$dir"
)sh";

}  // namespace

// ---------------------------------------------------------------------------------------------

absl::StatusOr<int> RunCommand(const std::vector<std::string>& argv, std::string* out,
                               absl::Duration timeout) {
  if (argv.empty()) return absl::InvalidArgumentError("empty command");
  std::vector<std::string> args = argv;
  std::vector<char*> cargs = CStrings(args);
  int pipe_fds[2] = {-1, -1};
  if (out != nullptr && pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError("pipe failed");
  }
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    setpgid(0, 0);
    dup2(devnull, 0);
    if (out != nullptr) dup2(pipe_fds[1], 1);
    CloseInheritedDescriptors();
    execvp(cargs[0], cargs.data());
    _exit(127);
  }
  close(devnull);
  if (out != nullptr) close(pipe_fds[1]);
  const absl::Time deadline = absl::Now() + timeout;
  int status = 0;
  bool exited = false;
  while (!exited) {
    if (out != nullptr) {
      pollfd p{pipe_fds[0], POLLIN, 0};
      if (poll(&p, 1, 50) > 0) {
        char buffer[4096];
        ssize_t n = read(pipe_fds[0], buffer, sizeof(buffer));
        if (n > 0) out->append(buffer, n);
      }
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    if (waitpid(pid, &status, WNOHANG) == pid) exited = true;
    if (!exited && absl::Now() > deadline) {
      kill(-pid, SIGKILL);
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      if (out != nullptr) close(pipe_fds[0]);
      return absl::DeadlineExceededError(absl::StrCat(absl::StrJoin(argv, " "), " ran longer than ",
                                                      absl::FormatDuration(timeout)));
    }
  }
  if (out != nullptr) {
    // Whatever the command wrote before it exited (a daemon it started may hold the pipe, so
    // do not wait for end of file).
    fcntl(pipe_fds[0], F_SETFL, O_NONBLOCK);
    char buffer[4096];
    ssize_t n;
    while ((n = read(pipe_fds[0], buffer, sizeof(buffer))) > 0) out->append(buffer, n);
    close(pipe_fds[0]);
  }
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + WTERMSIG(status);
}

std::string FindProgram(const std::string& name) {
  std::error_code ec;
  if (name.find('/') != std::string::npos) {
    fs::path p = fs::canonical(name, ec);
    return ec ? "" : p.string();
  }
  for (absl::string_view dir : absl::StrSplit(EnvOr("PATH", "/usr/bin:/bin"), ':')) {
    fs::path candidate = fs::path(std::string(dir)) / name;
    if (access(candidate.c_str(), X_OK) == 0) {
      fs::path p = fs::canonical(candidate, ec);
      if (!ec) return p.string();
    }
  }
  // Debian's server programs live in sbin directories that a test's PATH may lack.
  for (const char* dir : {"/usr/sbin", "/usr/bin", "/sbin", "/bin"}) {
    fs::path candidate = fs::path(dir) / name;
    if (access(candidate.c_str(), X_OK) == 0) {
      fs::path p = fs::canonical(candidate, ec);
      if (!ec) return p.string();
    }
  }
  return "";
}

std::string PgBinDir() {
  std::error_code ec;
  std::string best;
  int best_version = -1;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    int version = std::atoi(entry.path().filename().c_str());
    if (version > best_version && fs::exists(entry.path() / "bin" / "pg_ctl", ec)) {
      best_version = version;
      best = (entry.path() / "bin").string();
    }
  }
  return best;
}

std::string MissingPrograms() {
  std::vector<std::string> missing;
  if (PgBinDir().empty()) missing.push_back("PostgreSQL server (postgresql)");
  if (FindProgram("redis-server").empty()) missing.push_back("redis-server");
  if (FindProgram(HIE_IDENTITY_BIN).empty()) missing.push_back(HIE_IDENTITY_BIN);
  return absl::StrJoin(missing, ", ");
}

// ---------------------------------------------------------------------------------------------

absl::StatusOr<std::unique_ptr<Sandbox>> Sandbox::Create(const std::string& name) {
  std::string tmpl = absl::StrCat(EnvOr("TMPDIR", "/tmp"), "/hie-e2e-", name, "-XXXXXX");
  if (mkdtemp(tmpl.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", tmpl, " failed"));
  }
  std::string dir = tmpl;
  chmod(dir.c_str(), 0755);
  mkdir((dir + "/pids").c_str(), 0755);

  std::string pg_bin = PgBinDir();
  std::string pg_ctl = pg_bin.empty() ? "" : pg_bin + "/pg_ctl";
  std::vector<std::string> args = {"/bin/bash",       "-c", kJanitorScript,
                                   "hie-e2e-janitor", dir,  pg_ctl};
  std::vector<char*> cargs = CStrings(args);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  pid_t child = fork();
  if (child < 0) return absl::InternalError("fork failed");
  if (child == 0) {
    // Detach twice (new session, then a grandchild adopted by init) so that neither ctest's
    // kill of the test's process tree nor a terminal's signal reaches the janitor.
    setsid();
    if (fork() != 0) _exit(0);
    dup2(fds[0], 0);
    int devnull = open("/dev/null", O_WRONLY);
    if (devnull >= 0) {
      dup2(devnull, 1);
      dup2(devnull, 2);
    }
    CloseInheritedDescriptors();
    execv(cargs[0], cargs.data());
    _exit(127);
  }
  close(fds[0]);
  waitpid(child, nullptr, 0);
  return std::unique_ptr<Sandbox>(new Sandbox(dir, fds[1]));
}

Sandbox::~Sandbox() {
  if (EnvOr("HIE_E2E_KEEP", "") == "1") {
    std::ofstream(Path("keep")) << "kept by HIE_E2E_KEEP=1\n";
    std::cerr << "e2e: sandbox kept in " << dir_ << "\n";
  } else {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  close(janitor_fd_);
}

void Sandbox::DumpLogs(int lines) const {
  std::error_code ec;
  std::vector<std::string> logs;
  for (auto it = fs::recursive_directory_iterator(
           dir_, fs::directory_options::skip_permission_denied, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) break;
    if (it->path().extension() == ".log" && it->path().filename() != "initdb.log") {
      logs.push_back(it->path().string());
    }
  }
  std::sort(logs.begin(), logs.end());
  for (const std::string& log : logs) {
    std::cerr << "----- last " << lines << " lines of " << log << " -----\n"
              << TailOfFile(log, lines);
  }
}

void Sandbox::RecordChild(pid_t pid, const std::string& executable) {
  std::ofstream(Path(absl::StrCat("pids/", pid))) << executable;
}

void Sandbox::ForgetChild(pid_t pid) { unlink(Path(absl::StrCat("pids/", pid)).c_str()); }

// ---------------------------------------------------------------------------------------------

ChildProcess::ChildProcess(Sandbox* sandbox, std::vector<std::string> argv, std::string log_path)
    : sandbox_(sandbox), argv_(std::move(argv)), log_path_(std::move(log_path)) {}

absl::Status ChildProcess::Start() {
  if (pid_ > 0 && Running()) return absl::FailedPreconditionError("already running");
  std::string executable = FindProgram(argv_[0]);
  if (executable.empty()) return absl::NotFoundError(absl::StrCat(argv_[0], " not found"));
  // argv[0] stays as given: some programs choose their mode by it (Debian's redis-server is a
  // symlink to redis-check-rdb).
  std::vector<std::string> args = argv_;
  std::vector<char*> cargs = CStrings(args);
  std::vector<std::string> env = ChildEnvironment();
  std::vector<char*> cenv = CStrings(env);
  int log_fd = open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (log_fd < 0) return absl::InternalError(absl::StrCat("cannot open ", log_path_));
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  {
    std::string banner = absl::StrCat("=== e2e: starting ", absl::StrJoin(argv_, " "), " at ",
                                      absl::FormatTime(absl::Now()), "\n");
    if (write(log_fd, banner.data(), banner.size()) < 0) {
      // The banner is only a help for reading the log.
    }
  }
  pid_t pid = fork();
  if (pid < 0) {
    close(log_fd);
    close(devnull);
    return absl::InternalError("fork failed");
  }
  if (pid == 0) {
    dup2(devnull, 0);
    dup2(log_fd, 1);
    dup2(log_fd, 2);
    CloseInheritedDescriptors();
    execve(executable.c_str(), cargs.data(), cenv.data());
    _exit(127);
  }
  close(log_fd);
  close(devnull);
  pid_ = pid;
  exit_status_.reset();
  sandbox_->RecordChild(pid, executable);
  return absl::OkStatus();
}

bool ChildProcess::Running() {
  if (pid_ <= 0 || exit_status_.has_value()) return false;
  int status = 0;
  if (waitpid(pid_, &status, WNOHANG) == pid_) {
    exit_status_ = status;
    sandbox_->ForgetChild(pid_);
    return false;
  }
  return true;
}

void ChildProcess::Kill(int signal, absl::Duration grace) {
  if (!Running()) return;
  kill(pid_, signal);
  int status = 0;
  if (signal != SIGKILL) {
    absl::Time deadline = absl::Now() + grace;
    while (absl::Now() < deadline) {
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_status_ = status;
        sandbox_->ForgetChild(pid_);
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    kill(pid_, SIGKILL);
  }
  waitpid(pid_, &status, 0);
  exit_status_ = status;
  sandbox_->ForgetChild(pid_);
}

// ---------------------------------------------------------------------------------------------

PgCluster::PgCluster(Sandbox* sandbox, std::string name, bool fast)
    : dir_(sandbox->Path(name)), port_(hie::testing::FreeTcpPort()), fast_(fast) {}

PgCluster::~PgCluster() {
  std::error_code ec;
  if (fs::exists(dir_ + "/data/postmaster.pid", ec)) {
    absl::Status s = Crash();  // the data is about to be deleted: no checkpoint needed
    if (!s.ok()) std::cerr << "e2e: stopping PostgreSQL: " << s << "\n";
  }
}

absl::Status PgCluster::Start() {
  std::vector<std::string> argv = {std::string(HIE_SOURCE_DIR) + "/scripts/pg.sh", "start", dir_,
                                   std::to_string(port_)};
  if (fast_) argv.push_back("fast");
  std::string out;
  absl::StatusOr<int> code = RunCommand(argv, &out, absl::Seconds(120));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::UnavailableError(absl::StrCat("scripts/pg.sh start exited with ", *code, ": ", out,
                                               TailOfFile(dir_ + "/server.log", 20)));
  }
  std::vector<std::string> lines = absl::StrSplit(out, '\n', absl::SkipWhitespace());
  if (lines.empty()) return absl::InternalError("scripts/pg.sh start printed no DSN");
  dsn_ = std::string(absl::StripAsciiWhitespace(lines.back()));
  return absl::OkStatus();
}

absl::Status PgCluster::Crash() {
  std::string pg_bin = PgBinDir();
  if (pg_bin.empty()) return absl::FailedPreconditionError("PostgreSQL is not installed");
  std::string out;
  absl::StatusOr<int> code = RunCommand(
      AsPostgres({pg_bin + "/pg_ctl", "-D", dir_ + "/data", "-m", "immediate", "-w", "stop"}), &out,
      absl::Seconds(60));
  if (!code.ok()) return code.status();
  if (*code != 0) {
    return absl::InternalError(
        absl::StrCat("pg_ctl stop -m immediate exited with ", *code, ": ", out));
  }
  return absl::OkStatus();
}

absl::Status PgCluster::Stop() {
  std::string out;
  absl::StatusOr<int> code = RunCommand(
      {std::string(HIE_SOURCE_DIR) + "/scripts/pg.sh", "stop", dir_}, &out, absl::Seconds(60));
  if (!code.ok()) return code.status();
  if (*code != 0) return absl::InternalError(absl::StrCat("scripts/pg.sh stop: ", out));
  return absl::OkStatus();
}

// ---------------------------------------------------------------------------------------------

RedisServer::RedisServer(Sandbox* sandbox, std::string name)
    : port_(hie::testing::FreeTcpPort()),
      process_(sandbox,
               {"redis-server", "--port", std::to_string(port_), "--bind", "127.0.0.1", "--save",
                "", "--appendonly", "no", "--dir", sandbox->dir(), "--loglevel", "warning"},
               sandbox->Path(name + ".log")) {}

absl::Status RedisServer::Start() {
  if (absl::Status s = process_.Start(); !s.ok()) return s;
  redis::RedisClient probe({.port = port_, .reconnect_backoff = absl::ZeroDuration()});
  for (int i = 0; i < 200; ++i) {
    if (probe.Command({"PING"}).ok()) return absl::OkStatus();
    if (!process_.Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return absl::UnavailableError("redis-server did not answer PING");
}

// ---------------------------------------------------------------------------------------------

namespace {

std::vector<int> DistinctFreePorts(int n) {
  std::vector<int> ports;
  while (static_cast<int>(ports.size()) < n) {
    int port = hie::testing::FreeTcpPort();
    if (std::find(ports.begin(), ports.end(), port) == ports.end()) ports.push_back(port);
  }
  return ports;
}

std::vector<std::string> IdentityArgv(const std::vector<int>& ports, const IdentityConfig& config) {
  TlsFiles server = hie::testing::TestCertFiles("identity");
  std::vector<std::string> argv = {
      HIE_IDENTITY_BIN,
      absl::StrCat("--listen=127.0.0.1:", ports[0]),
      absl::StrCat("--hl7-listen=127.0.0.1:", ports[1]),
      absl::StrCat("--metrics-listen=127.0.0.1:", ports[2]),
      absl::StrCat("--pg-dsn=", config.pg_dsn),
      absl::StrCat("--tls-ca=", server.ca_file),
      absl::StrCat("--tls-cert=", server.cert_file),
      absl::StrCat("--tls-key=", server.key_file),
  };
  if (!config.redis.empty()) argv.push_back(absl::StrCat("--redis=", config.redis));
  argv.insert(argv.end(), config.extra_flags.begin(), config.extra_flags.end());
  return argv;
}

}  // namespace

IdentityProcess::IdentityProcess(Sandbox* sandbox, std::string name, IdentityConfig config)
    : IdentityProcess(sandbox, std::move(name), config, DistinctFreePorts(3)) {}

IdentityProcess::IdentityProcess(Sandbox* sandbox, std::string name, const IdentityConfig& config,
                                 std::vector<int> ports)
    : name_(std::move(name)),
      grpc_port_(ports[0]),
      hl7_port_(ports[1]),
      metrics_port_(ports[2]),
      argv_(IdentityArgv(ports, config)),
      process_(sandbox, argv_, sandbox->Path(name_ + ".log")) {}

absl::Status IdentityProcess::Start(absl::Duration timeout) {
  if (absl::Status s = process_.Start(); !s.ok()) return s;
  return WaitServing(timeout);
}

absl::Status IdentityProcess::WaitServing(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (true) {
    if (!process_.Running()) {
      int status = process_.exit_status().value_or(0);
      return absl::UnavailableError(
          absl::StrCat(name_, " exited (", WIFEXITED(status) ? "code " : "signal ",
                       WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
                       "); end of its log:\n", TailOfFile(process_.log_path(), 30)));
    }
    if (Health() == grpc::health::v1::HealthCheckResponse::SERVING) return absl::OkStatus();
    if (absl::Now() > deadline) {
      return absl::DeadlineExceededError(
          absl::StrCat(name_, " not SERVING after ", absl::FormatDuration(timeout),
                       "; end of its log:\n", TailOfFile(process_.log_path(), 30)));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

std::shared_ptr<grpc::Channel> IdentityProcess::Channel(const std::string& cert) const {
  TlsFiles files = hie::testing::TestCertFiles(cert.empty() ? "operator" : cert);
  if (cert.empty()) files.cert_file = files.key_file = "";
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      MakeTlsChannelCredentials(files);
  if (!creds.ok()) {
    ADD_FAILURE() << "channel credentials for '" << cert << "': " << creds.status();
    return grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  // Quick reconnects to a restarted server. (GRPC_ARG_MIN_RECONNECT_BACKOFF_MS stays unset: gRPC
  // also takes it as the connect timeout, and a TLS handshake on a busy machine needs more.)
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(absl::StrCat("ipv4:127.0.0.1:", grpc_port_), *creds, args);
}

std::unique_ptr<hie::identity::v1::IdentityService::Stub> IdentityProcess::Stub(
    const std::string& cert) const {
  return hie::identity::v1::IdentityService::NewStub(Channel(cert));
}

std::optional<grpc::health::v1::HealthCheckResponse::ServingStatus> IdentityProcess::Health(
    absl::Duration timeout) {
  // A new channel each time: a channel whose first connection was refused (the server still
  // starting) can take 20 s to try again in this gRPC version.
  auto stub = grpc::health::v1::Health::NewStub(Channel("operator"));
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  grpc::Status status = stub->Check(Deadline(timeout).get(), request, &response);
  if (!status.ok()) return std::nullopt;
  return response.status();
}

absl::StatusOr<std::unique_ptr<hie::hl7::MllpClient>> IdentityProcess::ConnectMllp(
    const std::string& cert, absl::Duration timeout) const {
  return hie::hl7::MllpClient::Connect("127.0.0.1", hl7_port_, hie::testing::TestCertFiles(cert),
                                       timeout);
}

// ---------------------------------------------------------------------------------------------

void E2eTest::SetUp() {
  HIE_E2E_REQUIRE_PROGRAMS();
  const ::testing::TestInfo* info = ::testing::UnitTest::GetInstance()->current_test_info();
  // Short: PostgreSQL's socket path inside the sandbox must stay under 108 bytes.
  absl::StatusOr<std::unique_ptr<Sandbox>> sandbox =
      Sandbox::Create(std::string(info->name()).substr(0, 20));
  ASSERT_TRUE(sandbox.ok()) << sandbox.status();
  sandbox_ = *std::move(sandbox);
}

void E2eTest::TearDown() {
  if (HasFailure() && sandbox_ != nullptr) sandbox_->DumpLogs();
}

void E2eTest::StartPostgres(bool fast) {
  pg_ = std::make_unique<PgCluster>(sandbox_.get(), "pg", fast);
  absl::Status started = pg_->Start();
  ASSERT_TRUE(started.ok()) << started;
}

void E2eTest::StartRedis() {
  redis_ = std::make_unique<RedisServer>(sandbox_.get());
  absl::Status started = redis_->Start();
  ASSERT_TRUE(started.ok()) << started;
}

IdentityProcess* E2eTest::StartIdentity(const std::string& name, bool with_redis,
                                        std::vector<std::string> extra_flags) {
  if (pg_ == nullptr || (with_redis && redis_ == nullptr)) {
    ADD_FAILURE() << "start PostgreSQL (and Redis) before " << name;
    return nullptr;
  }
  IdentityConfig config{.pg_dsn = pg_->dsn(),
                        .redis = with_redis ? redis_->address() : "",
                        .extra_flags = std::move(extra_flags)};
  identities_.push_back(std::make_unique<IdentityProcess>(sandbox_.get(), name, config));
  absl::Status started = identities_.back()->Start();
  if (!started.ok()) {
    ADD_FAILURE() << name << " did not start: " << started;
    return nullptr;
  }
  return identities_.back().get();
}

void ParallelFor(int n, int threads, const std::function<void(int i, int thread)>& fn) {
  std::atomic<int> next{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      for (int i = next.fetch_add(1); i < n; i = next.fetch_add(1)) fn(i, t);
    });
  }
  for (std::thread& w : workers) w.join();
}

// ---------------------------------------------------------------------------------------------

std::unique_ptr<grpc::ClientContext> Deadline(absl::Duration timeout) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + absl::ToChronoMilliseconds(timeout));
  return ctx;
}

std::string NewRequestId() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t salt = std::random_device{}();
  return absl::StrFormat("e2e-%d-%x-%d", getpid(), salt & 0xffff, counter.fetch_add(1) + 1);
}

hie::common::v1::SourceId Sid(const std::string& org, const std::string& local_id) {
  hie::common::v1::SourceId id;
  id.set_org(org);
  id.set_local_id(local_id);
  return id;
}

std::string SidString(const hie::common::v1::SourceId& id) {
  return absl::StrCat(id.org(), "/", id.local_id());
}

Patient MadeUpPatient(int n) {
  static const char* kFirst[] = {"Bar", "Cor", "Dal", "Fen", "Gil",
                                 "Hal", "Jor", "Kel", "Lor", "Mar"};
  static const char* kSecond[] = {"benn", "dock", "ford",  "grove", "holt",
                                  "ling", "more", "ridge", "stein", "wick"};
  static const char* kThird[] = {"", "son", "er", "man", "ley", "ton", "ey", "ham"};
  static const char* kGiven[] = {"Ada",   "Bruno", "Clara",   "Dmitri",  "Elena",
                                 "Farid", "Greta", "Hiroshi", "Ines",    "Jonas",
                                 "Kavya", "Lucas", "Mirela",  "Nikolai", "Olga",
                                 "Pavel", "Quinn", "Rosa",    "Soren",   "Tamsin"};
  static const char* kStreet[] = {"Birch", "Cedar", "Elm", "Maple", "Oak", "Pine", "Walnut", "Ash"};
  static const char* kCity[] = {"Springfield", "Riverton", "Lakeview",  "Fairmont",
                                "Greenville",  "Ashford",  "Brookfield"};
  Patient p;
  p.family = absl::StrCat(kFirst[n % 10], kSecond[(n / 10) % 10], kThird[(n / 100) % 8]);
  p.given = kGiven[(n * 7 + n / 20) % 20];
  p.birth_date = absl::StrFormat("%04d-%02d-%02d", 1925 + n % 80, 1 + (n / 3) % 12, 1 + n % 28);
  p.sex = n % 2 == 0 ? "F" : "M";
  p.street = absl::StrCat(10 + n, " ", kStreet[n % 8], " Street");
  p.city = kCity[n % 7];
  p.zip = absl::StrFormat("%05d", 10000 + (n * 37) % 89999);
  p.phone = absl::StrFormat("%03d-555-%04d", 200 + (n / 10000) % 700, n % 10000);
  p.ssn = absl::StrFormat("%09d", 100000000 + n * 13);
  return p;
}

hie::common::v1::Demographics DemographicsOf(const Patient& p) {
  hie::common::v1::Demographics d;
  d.mutable_name()->set_family(p.family);
  d.mutable_name()->set_given(p.given);
  d.set_birth_date(p.birth_date);
  d.set_sex(p.sex == "F" ? hie::common::v1::SEX_FEMALE : hie::common::v1::SEX_MALE);
  auto* address = d.add_addresses();
  address->add_lines(p.street);
  address->set_city(p.city);
  address->set_state("IL");
  address->set_postal_code(p.zip);
  d.add_phones()->set_value(p.phone);
  auto* ssn = d.add_identifiers();
  ssn->set_system("urn:oid:2.16.840.1.113883.4.1");
  ssn->set_value(p.ssn);
  ssn->set_type(hie::common::v1::Identifier::TYPE_NATIONAL_ID);
  return d;
}

std::string PidSegment(const std::string& mrn, const Patient& p) {
  std::string birth = p.birth_date;
  birth.erase(std::remove(birth.begin(), birth.end(), '-'), birth.end());
  return absl::StrCat("PID|1||", mrn, "^^^CLINIC^MR~", p.ssn, "^^^SSA^SS||", p.family, "^", p.given,
                      "||", birth, "|", p.sex, "|||", p.street, "^^", p.city, "^IL^", p.zip, "||",
                      p.phone);
}

std::string AdtMessage(const std::string& trigger, const std::string& control_id,
                       const std::vector<std::string>& segments, const std::string& charset) {
  // MSH-12 is the version; MSH-13..17 empty; MSH-18 the character set.
  std::string msh = absl::StrCat("MSH|^~\\&|EMR|CLINIC|HIE|HIE|20261122101500||ADT^", trigger, "|",
                                 control_id, "|P|2.5.1");
  if (!charset.empty()) absl::StrAppend(&msh, "||||||", charset);
  std::string message = absl::StrCat(msh, "\rEVN|", trigger, "|20261122101500\r");
  for (const std::string& segment : segments) absl::StrAppend(&message, segment, "\r");
  return message;
}

std::vector<std::string> ErrSegments(const std::string& ack) {
  std::vector<std::string> out;
  for (absl::string_view line : absl::StrSplit(ack, absl::ByAnyChar("\r\n"), absl::SkipEmpty())) {
    if (absl::StartsWith(line, "ERR|")) out.emplace_back(line);
  }
  return out;
}

std::string CodeName(grpc::StatusCode code) { return hie::GrpcCodeName(code); }

}  // namespace hie::e2e
