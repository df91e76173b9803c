#include "services/common/bench/bench_support.h"

#include <algorithm>
#include <cstdio>
#include <map>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
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

std::shared_ptr<grpc::Channel> Channel(const std::string& cert, int index,
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

std::unique_ptr<grpc::ClientContext> Deadline(int seconds) {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(seconds));
  return ctx;
}

std::string Summary(std::vector<double> v) {
  if (v.empty()) return "no calls";
  std::sort(v.begin(), v.end());
  auto at = [&](double q) { return v[std::min(v.size() - 1, static_cast<size_t>(q * v.size()))]; };
  return absl::StrCat("p50 ", at(0.5) / 1e3, " ms  p99 ", at(0.99) / 1e3, " ms  max ",
                      v.back() / 1e3, " ms");
}

int Echo(const std::string& default_target) {
  const int64_t calls = IntFlag("calls", 20000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  std::vector<std::unique_ptr<grpc::health::v1::Health::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(grpc::health::v1::Health::NewStub(Channel("operator", t, default_target)));
  }
  std::vector<double> lat;
  int64_t failed = 0;
  double s = RunCalls(
      calls, concurrency,
      [&](int t, int64_t) {
        grpc::health::v1::HealthCheckRequest request;
        grpc::health::v1::HealthCheckResponse response;
        return stubs[t]->Check(Deadline().get(), request, &response).ok();
      },
      &lat, &failed);
  std::printf("echo     calls=%ld concurrency=%d  %.0f calls/s  %s  failed=%ld\n",
              static_cast<long>(calls), concurrency, calls / s, Summary(lat).c_str(),
              static_cast<long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace hie::bench
