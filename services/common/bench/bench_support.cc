#include "services/common/bench/bench_support.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <thread>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "services/common/tls.h"

namespace hie::bench {
namespace {

std::map<std::string, std::string>& Flags() {
  static auto* flags = new std::map<std::string, std::string>();
  return *flags;
}

}  // namespace

bool ParseFlags(int argc, char** argv, int first) {
  for (int i = first; i < argc; ++i) {
    std::string arg = argv[i];
    size_t eq = arg.find('=');
    if (arg.rfind("--", 0) != 0 || eq == std::string::npos) {
      std::fprintf(stderr, "flags are --name=value (got %s)\n", arg.c_str());
      return false;
    }
    Flags()[arg.substr(2, eq - 2)] = arg.substr(eq + 1);
  }
  return true;
}

std::string Flag(const std::string& name, const std::string& fallback) {
  auto it = Flags().find(name);
  return it == Flags().end() ? fallback : it->second;
}

int64_t IntFlag(const std::string& name, int64_t fallback) {
  int64_t v = fallback;
  if (auto it = Flags().find(name); it != Flags().end() && !absl::SimpleAtoi(it->second, &v)) {
    std::fprintf(stderr, "--%s must be an integer\n", name.c_str());
    std::exit(2);
  }
  return v;
}

namespace {

// A channel of its own (Channel keeps one per index).
std::shared_ptr<grpc::Channel> NewChannel(const std::string& cert, int index,
                                          const std::string& default_target) {
  const std::string dir = Flag("certs", "var/certs");
  auto creds = MakeTlsChannelCredentials(
      {dir + "/ca.pem", dir + "/" + cert + ".pem", dir + "/" + cert + ".key"});
  if (!creds.ok()) {
    std::fprintf(stderr, "credentials: %s\n", std::string(creds.status().message()).c_str());
    std::exit(1);
  }
  grpc::ChannelArguments args;
  args.SetSslTargetNameOverride("localhost");
  args.SetInt("hie.bench.channel", index);  // distinct channels: one connection each
  return grpc::CreateCustomChannel(Flag("target", default_target), *creds, args);
}

}  // namespace

std::shared_ptr<grpc::Channel> Channel(const std::string& cert, int index,
                                       const std::string& default_target) {
  const int64_t connections = IntFlag("connections", 0);
  if (connections > 0) index = static_cast<int>(index % connections);
  static std::mutex mu;
  static std::map<std::pair<std::string, int>, std::shared_ptr<grpc::Channel>> made;
  std::lock_guard lock(mu);
  std::shared_ptr<grpc::Channel>& channel = made[{cert, index}];
  if (channel == nullptr) channel = NewChannel(cert, index, default_target);
  return channel;
}

std::string ConnectionsNote() {
  const int64_t connections = IntFlag("connections", 0);
  return connections > 0 ? " connections=" + std::to_string(connections) : "";
}

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

MachineCpu::MachineCpu() : start_(Read()) {}

MachineCpu::Ticks MachineCpu::Read() {
  Ticks t;
  std::ifstream stat("/proc/stat");
  std::string cpu;
  uint64_t user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  if (!(stat >> cpu >> user >> nice >> system >> idle >> iowait >> irq >> softirq >> steal) ||
      cpu != "cpu") {
    return t;  // not Linux's /proc: the figures read 0
  }
  t.busy = user + nice + system + irq + softirq;
  t.steal = steal;
  t.total = t.busy + idle + iowait + steal;
  return t;
}

std::string MachineCpu::PerOperation(double operations, const char* unit) const {
  const Ticks now = Read();
  const double ms_per_tick = 1000.0 / static_cast<double>(sysconf(_SC_CLK_TCK));
  const double busy = static_cast<double>(now.busy - start_.busy);
  const double total = std::max(1.0, static_cast<double>(now.total - start_.total));
  return absl::StrFormat("cpu %.3f ms per %s (busy %.0f%%, steal %.1f%%)",
                         operations > 0 ? busy * ms_per_tick / operations : 0.0, unit,
                         100.0 * busy / total,
                         100.0 * static_cast<double>(now.steal - start_.steal) / total);
}

std::string Summary(std::vector<double> v) {
  if (v.empty()) return "no calls";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return absl::StrCat("p50 ", at(0.5) / 1e3, " ms  p99 ", at(0.99) / 1e3, " ms  max ",
                      v.back() / 1e3, " ms");
}

double RunCallbackCalls(int64_t n, int concurrency,
                        const std::function<void(int, int64_t, CallDone)>& start,
                        std::vector<double>* latencies, int64_t* failures) {
  std::atomic<int64_t> next = 0, failed = 0;
  std::vector<std::vector<double>> per(concurrency);
  std::mutex mu;
  std::condition_variable finished;
  int active = concurrency;
  thread_local int depth = 0;  // calls started from inside a completion on this thread
  std::function<void(int)> launch = [&](int caller) {
    const int64_t i = next++;
    if (i >= n) {
      std::lock_guard lock(mu);
      if (--active == 0) finished.notify_all();
      return;
    }
    const auto begin = std::chrono::steady_clock::now();
    start(caller, i, [&, caller, begin](bool ok) {
      per[caller].push_back(
          std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin)
              .count());
      if (!ok) ++failed;
      if (depth > 32) {  // completions run inline: do not grow this stack without bound
        std::thread(launch, caller).detach();
        return;
      }
      ++depth;
      launch(caller);
      --depth;
    });
  };
  const auto start_time = std::chrono::steady_clock::now();
  for (int c = 0; c < concurrency; ++c) launch(c);
  {
    std::unique_lock lock(mu);
    finished.wait(lock, [&] { return active == 0; });
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_time).count();
  for (auto& p : per) latencies->insert(latencies->end(), p.begin(), p.end());
  *failures = failed;
  return seconds;
}

bool CallbackDriver() {
  const std::string driver = Flag("driver", "threads");
  if (driver != "threads" && driver != "callback") {
    std::fprintf(stderr, "--driver must be threads or callback, not %s\n", driver.c_str());
    std::exit(2);
  }
  return driver == "callback";
}

int Echo(const std::string& default_target) {
  const int64_t calls = IntFlag("calls", 20000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  const bool callback = CallbackDriver();
  std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(grpc::health::v1::Health::NewStub(Channel("operator", t, default_target)));
  }
  std::vector<double> lat;
  int64_t failed = 0;
  double s = 0;
  if (callback) {
    struct Check {
      std::unique_ptr<grpc::ClientContext> ctx = Deadline();
      grpc::health::v1::HealthCheckRequest request;
      grpc::health::v1::HealthCheckResponse response;
    };
    s = RunCallbackCalls(
        calls, concurrency,
        [&](int t, int64_t, CallDone done) {
          auto* call = new Check;
          stubs[t]->async()->Check(call->ctx.get(), &call->request, &call->response,
                                   [call, done = std::move(done)](grpc::Status status) {
                                     delete call;
                                     done(status.ok());
                                   });
        },
        &lat, &failed);
  } else {
    s = RunCalls(
        calls, concurrency,
        [&](int t, int64_t) {
          grpc::health::v1::HealthCheckRequest request;
          grpc::health::v1::HealthCheckResponse response;
          return stubs[t]->Check(Deadline().get(), request, &response).ok();
        },
        &lat, &failed);
  }
  std::printf("echo     calls=%ld concurrency=%d%s%s  %.0f calls/s  %s  failed=%ld\n",
              static_cast<long>(calls), concurrency, ConnectionsNote().c_str(),
              callback ? " driver=callback" : "", calls / s, Summary(lat).c_str(),
              static_cast<long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace hie::bench
