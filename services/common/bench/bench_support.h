#pragma once

// What the services' benchmark programs (hie-audit-bench, hie-consent-bench...) share: their
// --name=value flags, mutual-TLS channels (one connection per caller unless --connections), the
// closed-loop call driver with per-call latencies, and the bare gRPC echo
// (grpc.health.v1.Health/Check) every figure is set beside. Benchmark programs only; nothing
// here is used by a service.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

namespace hie::bench {

// Reads argv[first...] as --name=value flags; prints the problem and returns false otherwise.
bool ParseFlags(int argc, char** argv, int first);
std::string Flag(const std::string& name, const std::string& fallback = "");
// The flag as an integer; exits with status 2 naming the flag when it is not one.
int64_t IntFlag(const std::string& name, int64_t fallback);

// A channel to --target (default `default_target`) presenting <--certs>/<cert>.pem; `index`
// keeps channels apart (one connection each). With --connections=N the indexes share N
// channels (index i uses channel i % N), so that many callers' calls go over few connections as
// a service's do (each replica of a calling service keeps one channel).
std::shared_ptr<grpc::Channel> Channel(const std::string& cert, int index,
                                       const std::string& default_target);
// " connections=N" when --connections is given, else "": for the printed lines.
std::string ConnectionsNote();
std::unique_ptr<grpc::ClientContext> Deadline(int seconds = 30);

// The whole machine's CPU time from /proc/stat, to set a run's throughput beside what it cost:
// on the shared 2-core virtual machine the same code's throughput moves by up to 2x between
// runs minutes apart, and "steal" (time the hypervisor gave to other guests) says when.
class MachineCpu {
 public:
  MachineCpu();  // starts counting
  // "cpu X ms per <unit> (busy B%, steal S%)": busy = user + nice + system + irq + softirq
  // since the start, per `operations`; the shares are of all the cores' time since the start.
  std::string PerOperation(double operations, const char* unit) const;

 private:
  struct Ticks {
    uint64_t busy = 0, steal = 0, total = 0;
  };
  static Ticks Read();
  Ticks start_;
};

// "p50 X ms  p99 Y ms  max Z ms" of latencies in microseconds.
std::string Summary(std::vector<double> micros);

// Runs `call(thread, i)` for i = 0 ... n - 1 over `concurrency` threads, each call after the
// previous one of its thread; returns the wall seconds, appends per-call latencies
// (microseconds) and counts the calls that returned false.
template <typename Call>
double RunCalls(int64_t n, int concurrency, Call call, std::vector<double>* latencies,
                int64_t* failures) {
  std::atomic<int64_t> next = 0, failed = 0;
  std::vector<std::vector<double>> per(concurrency);
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int t = 0; t < concurrency; ++t) {
    threads.emplace_back([&, t] {
      for (int64_t i; (i = next++) < n;) {
        const auto begin = std::chrono::steady_clock::now();
        if (!call(t, i)) ++failed;
        per[t].push_back(
            std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - begin)
                .count());
      }
    });
  }
  for (auto& th : threads) th.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (auto& p : per) latencies->insert(latencies->end(), p.begin(), p.end());
  *failures = failed;
  return seconds;
}

// As RunCalls, on gRPC's callback API: `start(caller, i, done)` begins call i for `caller` and
// must arrange `done(ok)` when it ends; the caller's next call starts from that completion. So
// `concurrency` calls are in flight without a blocked thread each: the load generator costs
// less per call, which matters when it shares the machine with the service it measures.
using CallDone = std::function<void(bool ok)>;
double RunCallbackCalls(int64_t n, int concurrency,
                        const std::function<void(int, int64_t, CallDone)>& start,
                        std::vector<double>* latencies, int64_t* failures);

// Whether --driver says "callback" (RunCallbackCalls) rather than "threads" (RunCalls, the
// default); exits with status 2 on anything else.
bool CallbackDriver();

// The echo mode: --calls (20000) health Checks from --concurrency (1) callers with the operator
// certificate, on --driver (threads); prints one line; 0 when none failed.
int Echo(const std::string& default_target);

}  // namespace hie::bench
