// hie-gateway-bench: the gateway's federated query and retrieval over real gRPC with mutual TLS
// on loopback, against real member endpoints (services/member's MemberEndpointImpl, the
// reference member node's code, with its fault injection), all in this one process.
//
// The hub's own services (identity, locator, consent, audit, registry) are replaced by an
// instant in-process fake (every member holds the patient, consent permits, audit accepts):
// what is measured is the gateway itself (its core, the fan-out, the streaming, the extra TLS
// hop), not their latencies, which their own benchmarks measure. Each member holds the test
// set of services/member/core/test_data.h (P1: 4 approved entries; P2: a 2.5 MiB document).
//
//   hie-gateway-bench --certs=DIR [--members=20] [--queries=200] [--seconds=10]
//                     [--concurrency=8] [--retrievals=50] [--runs=deadline,healthy,direct,retrieve]
//
// Prints markdown rows:
//   deadline  members-1 healthy, one hanging, one black-holed, 1 s deadline, one caller: the
//             whole query's p50/p99/max, (a) breakers as configured in hie-gateway (3 failures
//             open them for 5 s), (b) breakers that never open (every query waits out the dead);
//   healthy   all healthy, 1 then --concurrency callers for --seconds: queries per second and
//             latency,
//             through the gateway, then the same fan-out called directly (FanOut, the gateway's
//             own client code, without the gateway): the gateway's added latency;
//   retrieve  P2's 2.5 MiB document, one caller: MB/s through the gateway and directly.
// --runs picks some of them (all by default; `healthy` is through the gateway, `direct` its
// baseline).

#include <grpcpp/grpcpp.h>
#include <sys/resource.h>

#include <atomic>
#include <iostream>
#include <mutex>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/synchronization/mutex.h"
#include "services/common/bench/bench_support.h"
#include "services/common/server.h"
#include "services/common/tls.h"
#include "services/common/worker_pool.h"
#include "services/gateway/api/gateway_service.h"
#include "services/gateway/api/member_fanout.h"
#include "services/member/api/member_service.h"
#include "services/member/core/test_data.h"
#include "services/registry/core/redaction.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;

TlsFiles Certs(const std::string& name) {
  const std::string dir = bench::Flag("certs", "var/certs");
  return {dir + "/ca.pem", dir + "/" + name + ".pem", dir + "/" + name + ".key"};
}

std::string Org(int i) { return absl::StrFormat("member-%02d", i); }

// One member node: the test set re-labelled as `org`.
class Member {
 public:
  Member(const std::string& org, member::FaultOptions faults) {
    member::MemberData data = member::testing::TestData();
    data.org = org;
    for (auto& d : data.documents) member::CompleteDocument(org, data.repository_id, &d);
    store_ = *member::MemberStore::Create(std::move(data));
    member::MemberServiceOptions options;
    options.faults = faults;
    service_ = std::make_unique<member::MemberEndpointImpl>(store_.get(), &workers_, options);
    server_ = *GrpcServer::Start({.service_name = "member",
                                  .listen_address = "127.0.0.1:0",
                                  .tls = Certs("clinic-a-endpoint")},
                                 {service_.get()});
    server_->SetServing(true);
  }
  ~Member() {
    service_->ReleaseHeldCalls();
    server_->Shutdown(absl::Seconds(1));
  }
  std::string endpoint() const { return absl::StrCat("localhost:", server_->port()); }

 private:
  std::unique_ptr<member::MemberStore> store_;
  WorkerPool workers_{2, 1000};
  std::unique_ptr<member::MemberEndpointImpl> service_;
  std::unique_ptr<GrpcServer> server_;
};

// The hub's services, instant: the caller's patient is P1 and P2 at every listed member.
class InstantHub : public HubServices {
 public:
  absl::StatusOr<ResolvedPatient> Resolve(const common::v1::RequestContext&, const SourceId& r,
                                          absl::Time) override {
    ResolvedPatient p{"person-1", {r}};
    std::lock_guard lock(mu_);
    for (const auto& [org, endpoint] : endpoints_) {
      for (const char* local : {"P1", "P2"}) {
        SourceId id;
        id.set_org(org);
        id.set_local_id(local);
        p.records.push_back(id);
      }
    }
    return p;
  }
  absl::StatusOr<std::vector<Holder>> Locate(const common::v1::RequestContext&,
                                             const std::vector<SourceId>& records,
                                             absl::Time) override {
    std::map<std::string, std::vector<std::string>> by_org;
    for (const SourceId& r : records) by_org[r.org()].push_back(r.local_id());
    std::vector<Holder> out;
    for (auto& [org, ids] : by_org) out.push_back({org, ids});
    return out;
  }
  absl::StatusOr<std::map<std::string, Verdict>> Decide(const common::v1::RequestContext&,
                                                        const std::vector<SourceId>&,
                                                        const std::vector<std::string>& orgs,
                                                        absl::Time) override {
    std::map<std::string, Verdict> out;
    for (const std::string& org : orgs) out[org] = Verdict{true, {}, "decision"};
    return out;
  }
  absl::Status Record(std::vector<audit::v1::AuditEvent>, absl::Time) override {
    return absl::OkStatus();
  }
  absl::StatusOr<std::vector<registry::v1::DocumentEntry>> RegistryEntries(
      const common::v1::RequestContext&, const std::vector<SourceId>&,
      const registry::v1::DocumentQuery&, int, absl::Time) override {
    return std::vector<registry::v1::DocumentEntry>{};
  }
  std::map<std::string, DirectoryEntry> Directory() override {
    std::lock_guard lock(mu_);
    std::map<std::string, DirectoryEntry> out;
    for (const auto& [org, endpoint] : endpoints_) {
      out[org] = DirectoryEntry{org, org, v1::MEMBER_STATE_ACTIVE, kMaxResultsPerMember};
    }
    return out;
  }
  std::string EndpointOf(const std::string& org) override {
    std::lock_guard lock(mu_);
    auto it = endpoints_.find(org);
    return it == endpoints_.end() ? "" : it->second;
  }
  Forbids RedactionFor(const std::vector<consent::v1::Obligation>&) override { return nullptr; }

  void SetMembers(std::map<std::string, std::string> endpoints) {
    std::lock_guard lock(mu_);
    endpoints_ = std::move(endpoints);
  }

 private:
  std::mutex mu_;
  std::map<std::string, std::string> endpoints_;  // org -> endpoint
};

struct Gateway {
  Gateway(InstantHub* hub, MemberChannels* channels, CircuitBreakerOptions breaker)
      : breakers(breaker), calls(channels, &breakers), retrieval(channels) {
    service = std::make_unique<MemberGatewayImpl>(hub, nullptr, nullptr, &calls, &retrieval,
                                                  &workers, MemberGatewayOptions{});
    server = *GrpcServer::Start(
        {.service_name = "gateway", .listen_address = "127.0.0.1:0", .tls = Certs("gateway")},
        {service.get()});
    server->SetServing(true);
  }
  ~Gateway() { server->Shutdown(absl::Seconds(2)); }

  Breakers breakers;
  FanOutCalls calls;
  GrpcMemberRetrieval retrieval;
  WorkerPool workers{64, 10000};
  std::unique_ptr<MemberGatewayImpl> service;
  std::unique_ptr<GrpcServer> server;
};

std::shared_ptr<grpc::Channel> ClientChannel(int port, int index) {
  auto creds = *MakeTlsChannelCredentials(Certs("clinic-b"));
  grpc::ChannelArguments args;
  args.SetInt("hie.bench.channel", index);  // one connection per caller
  return grpc::CreateCustomChannel(absl::StrCat("localhost:", port), creds, args);
}

common::v1::ClientContext Clinician() {
  common::v1::ClientContext c;
  c.set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
  c.set_user_id("dr-bench");
  c.set_user_role(common::v1::ROLE_CLINICIAN);
  return c;
}

// One federated query; false unless it ends OK with a summary.
bool Query(v1::MemberGateway::Stub& stub, absl::Duration deadline, int* entries = nullptr) {
  v1::FindOutsideRecordsRequest request;
  *request.mutable_context() = Clinician();
  request.set_local_id("b-1");
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  auto reader = stub.FindOutsideRecords(&ctx, request);
  v1::FindOutsideRecordsResponse m;
  bool summary = false;
  while (reader->Read(&m)) {
    if (m.has_summary()) {
      summary = true;
      if (entries != nullptr) *entries = m.summary().entries_total();
    }
  }
  return reader->Finish().ok() && summary;
}

// CPU time of the whole process (every thread), user and system.
double ProcessCpuSeconds() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  auto seconds = [](const timeval& t) { return static_cast<double>(t.tv_sec) + t.tv_usec / 1e6; };
  return seconds(u.ru_utime) + seconds(u.ru_stime);
}

void Row(const std::string& what, const std::string& result) {
  std::cout << "| " << what << " | " << result << " |" << std::endl;
}

void DeadlineRuns(InstantHub& hub, MemberChannels& channels, int queries) {
  for (bool breakers_open : {true, false}) {
    CircuitBreakerOptions options;  // hie-gateway's defaults (3 failures, 5 s)
    if (!breakers_open) options.failures_to_open = 1 << 30;
    Gateway gateway(&hub, &channels, options);
    auto stub = v1::MemberGateway::NewStub(ClientChannel(gateway.server->port(), 0));
    std::vector<double> latencies;
    int64_t failures = 0;
    bench::RunCalls(
        queries, 1, [&](int, int64_t) { return Query(*stub, absl::Seconds(1)); }, &latencies,
        &failures);
    Row(absl::StrCat("deadline 1 s, ", hub.Directory().size(),
                     " members (1 hanging, 1 black "
                     "hole), breakers ",
                     breakers_open ? "open after 3 failures" : "never open", ", ", queries,
                     " queries, 1 caller"),
        absl::StrCat(bench::Summary(latencies), ", ", failures, " failed"));
  }
}

// `gateway`, `direct`: which of the two to run.
void HealthyRuns(InstantHub& hub, MemberChannels& channels, const std::vector<Member*>& members,
                 double seconds, int concurrency, bool gateway_runs, bool direct_runs) {
  if (concurrency > 1) {
    HealthyRuns(hub, channels, members, seconds, 1, gateway_runs, direct_runs);
  }
  Gateway gateway(&hub, &channels, {});
  std::vector<std::unique_ptr<v1::MemberGateway::Stub>> stubs;
  for (int i = 0; i < concurrency; ++i) {
    stubs.push_back(v1::MemberGateway::NewStub(ClientChannel(gateway.server->port(), i)));
  }
  int entries = 0;
  Query(*stubs[0], absl::Seconds(5), &entries);  // connections up
  // `call(caller)` in a closed loop on each caller for --seconds.
  auto timed = [&](auto call, const std::string& what) {
    std::vector<std::vector<double>> per(concurrency);
    std::atomic<int64_t> failures = 0;
    const double cpu_start = ProcessCpuSeconds();
    const absl::Time start = absl::Now(), end = start + absl::Seconds(seconds);
    std::vector<std::thread> threads;
    for (int t = 0; t < concurrency; ++t) {
      threads.emplace_back([&, t] {
        while (absl::Now() < end) {
          const absl::Time begin = absl::Now();
          if (!call(t)) ++failures;
          per[t].push_back(absl::ToDoubleMicroseconds(absl::Now() - begin));
        }
      });
    }
    for (auto& th : threads) th.join();
    const double wall = absl::ToDoubleSeconds(absl::Now() - start);
    const double cpu = ProcessCpuSeconds() - cpu_start;
    std::vector<double> latencies;
    for (auto& p : per) latencies.insert(latencies.end(), p.begin(), p.end());
    Row(absl::StrCat(what, ", ", members.size(), " healthy members, ", concurrency, " callers"),
        absl::StrFormat("%.0f queries/s, %s, %d failed; CPU %.2f ms per query (all threads, "
                        "members included)",
                        latencies.size() / wall, bench::Summary(latencies), failures.load(),
                        cpu * 1e3 / static_cast<double>(latencies.size())));
  };
  if (gateway_runs) {
    timed([&](int t) { return Query(*stubs[t], absl::Seconds(5)); },
          absl::StrCat("through the gateway (", entries, " entries per answer)"));
  }
  if (!direct_runs) return;
  // The same fan-out without the gateway: the members called directly with its client code.
  Breakers breakers;
  timed(
      [&](int) {
        std::vector<MemberCall> calls;
        for (size_t i = 0; i < members.size(); ++i) {
          MemberCall c;
          c.target.org = Org(static_cast<int>(i));
          c.target.local_ids = {"P1", "P2"};
          c.endpoint = members[i]->endpoint();
          c.request.mutable_context()->set_request_id("bench");
          c.request.mutable_context()->set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
          c.request.mutable_context()->mutable_actor()->set_org("clinic-b");
          c.request.mutable_context()->mutable_actor()->set_role(common::v1::ROLE_CLINICIAN);
          c.request.add_local_patient_ids("P1");
          c.request.add_local_patient_ids("P2");
          calls.push_back(std::move(c));
        }
        auto fan =
            FanOut::Start(std::move(calls), absl::Now() + absl::Seconds(5), &channels, &breakers);
        bool ok = true;
        while (auto a = fan->Next(absl::InfiniteFuture())) {
          ok = ok && a->answer.kind == MemberAnswer::Kind::kCalled && a->answer.status.ok();
        }
        return ok;
      },
      "the same members called directly (FanOut)");
}

void RetrieveRuns(InstantHub& hub, MemberChannels& channels, Member& member, int n) {
  Gateway gateway(&hub, &channels, {});
  auto stub = v1::MemberGateway::NewStub(ClientChannel(gateway.server->port(), 0));
  auto direct = channels.Stub(member.endpoint());
  auto run = [&](auto read, const std::string& what) {
    std::vector<double> latencies;
    int64_t failures = 0;
    std::atomic<int64_t> bytes = 0;
    double wall = bench::RunCalls(
        n, 1,
        [&](int, int64_t) {
          int64_t got = 0;
          bool ok = read(&got);
          bytes += got;
          return ok;
        },
        &latencies, &failures);
    Row(absl::StrCat("retrieve 2.5 MiB, 1 caller, ", what),
        absl::StrFormat("%.1f MB/s, %s, %d failed", bytes / wall / 1e6, bench::Summary(latencies),
                        failures));
  };
  run(
      [&](int64_t* got) {
        v1::RetrieveDocumentRequest r;
        *r.mutable_context() = Clinician();
        r.set_local_id("b-1");
        r.set_member_org(Org(0));
        r.set_retrieve_key("key-d5");
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        auto reader = stub->RetrieveDocument(&ctx, r);
        member::v1::RetrieveDocumentResponse m;
        while (reader->Read(&m)) *got += static_cast<int64_t>(m.chunk().size());
        return reader->Finish().ok();
      },
      "through the gateway");
  run(
      [&](int64_t* got) {
        member::v1::RetrieveDocumentRequest r = member::testing::RetrieveRequest({"P2"}, "key-d5");
        grpc::ClientContext ctx;
        ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
        auto reader = direct->RetrieveDocument(&ctx, r);
        member::v1::RetrieveDocumentResponse m;
        while (reader->Read(&m)) *got += static_cast<int64_t>(m.chunk().size());
        return reader->Finish().ok();
      },
      "directly from the member");
}

int Main(int argc, char** argv) {
  if (!bench::ParseFlags(argc, argv, 1)) return 2;
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as the services do
  const int count = static_cast<int>(bench::IntFlag("members", 20));
  const int queries = static_cast<int>(bench::IntFlag("queries", 200));
  const double seconds = static_cast<double>(bench::IntFlag("seconds", 10));
  const int concurrency = static_cast<int>(bench::IntFlag("concurrency", 8));
  const int retrievals = static_cast<int>(bench::IntFlag("retrievals", 50));
  const std::string runs = bench::Flag("runs", "deadline,healthy,direct,retrieve");
  auto wanted = [&](const char* run) { return absl::StrContains(runs, run); };
  if (count < 3) {
    std::cerr << "--members must be at least 3\n";
    return 2;
  }
  auto creds = MakeTlsChannelCredentials(Certs("gateway-client"));
  if (!creds.ok()) {
    std::cerr << creds.status() << "\n";
    return 2;
  }
  MemberChannels channels(*creds);
  std::vector<std::unique_ptr<Member>> members;
  for (int i = 0; i < count; ++i)
    members.push_back(std::make_unique<Member>(Org(i), member::FaultOptions{}));
  Member hanging(Org(count - 2), member::FaultOptions{.hang = true});
  Member black_hole(Org(count - 1), member::FaultOptions{.black_hole = true});
  InstantHub hub;

  std::cout << "| run | result |\n|---|---|\n";
  std::map<std::string, std::string> endpoints;
  for (int i = 0; i < count - 2; ++i) endpoints[Org(i)] = members[i]->endpoint();
  endpoints[Org(count - 2)] = hanging.endpoint();
  endpoints[Org(count - 1)] = black_hole.endpoint();
  hub.SetMembers(endpoints);
  if (wanted("deadline")) DeadlineRuns(hub, channels, queries);

  endpoints.clear();
  std::vector<Member*> healthy;
  for (int i = 0; i < count; ++i) {
    endpoints[Org(i)] = members[i]->endpoint();
    healthy.push_back(members[i].get());
  }
  hub.SetMembers(endpoints);
  if (wanted("healthy") || wanted("direct")) {
    HealthyRuns(hub, channels, healthy, seconds, concurrency, wanted("healthy"), wanted("direct"));
  }
  if (wanted("retrieve")) RetrieveRuns(hub, channels, *members[0], retrievals);
  return 0;
}

}  // namespace
}  // namespace hie::gateway

int main(int argc, char** argv) { return hie::gateway::Main(argc, argv); }
