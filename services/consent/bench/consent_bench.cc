// hie-consent-bench: load and latency figures of a running hie-consent over gRPC with mutual
// TLS, beside a bare gRPC echo (the health service's Check on the same server) in the same run.
// Benchmark program only: not a test. run_bench.sh runs it in full.
//
//   hie-consent-bench MODE --target=HOST:PORT --certs=DIR [flags]
//   modes:
//     echo    --calls=N --concurrency=C               health Check round trips
//     load    --directives=D --persons=P --concurrency=C --seed=S
//                                                     CreateDirective through the gateway's
//                                                     delegation (the patient's own org)
//     decide  --calls=N --concurrency=C --persons=P   Decide for one person (all its source ids)
//     batch   --calls=N --concurrency=C --persons=P --custodians=K
//                                                     BatchDecide for K custodians
// Persons: person k has 1 to 3 source ids (as the gateway sends them after Resolve), at orgs
// clinic-0 ... clinic-19. Directives (seeded): 40% unscoped DENY, 35% unscoped PERMIT, 15% DENY
// of one data category, 10% PERMIT to named recipient orgs; a third of them limited to
// custodians. Prints one line per mode: calls/s (and decisions/s) and latency percentiles.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hie/consent/v1/consent.grpc.pb.h"
#include "services/common/bench/bench_support.h"

namespace {

namespace cv1 = ::hie::consent::v1;
namespace cm = ::hie::common::v1;

constexpr int kOrgs = 20;
using ::hie::bench::Flag;
using ::hie::bench::IntFlag;
using ::hie::bench::RunCalls;
using ::hie::bench::Summary;

constexpr char kDefaultTarget[] = "127.0.0.1:7004";

std::shared_ptr<grpc::Channel> Channel(const std::string& cert, int index) {
  return hie::bench::Channel(cert, index, kDefaultTarget);
}
std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 30) { return hie::bench::Deadline(seconds); }

// The source ids of person k: 1 to 3, at distinct orgs.
std::vector<cm::SourceId> PersonRecords(int64_t k) {
  const int count = 1 + static_cast<int>((k * 2654435761u) % 3);
  std::vector<cm::SourceId> out;
  for (int j = 0; j < count; ++j) {
    cm::SourceId id;
    id.set_org(absl::StrCat("clinic-", (k + j * 7) % kOrgs));
    id.set_local_id(absl::StrCat("P", k, "-", j));
    out.push_back(id);
  }
  return out;
}

std::string Org(std::mt19937_64& rng) { return absl::StrCat("clinic-", rng() % kOrgs); }

cm::RequestContext Delegated(const std::string& org, cm::Role role, const std::string& id,
                             int64_t user) {
  cm::RequestContext c;
  c.set_request_id(id);
  c.set_purpose_of_use(role == cm::ROLE_CLINICIAN ? cm::PURPOSE_OF_USE_TREATMENT
                                                  : cm::PURPOSE_OF_USE_OPERATIONS);
  c.mutable_actor()->set_org(org);
  c.mutable_actor()->set_user_id(absl::StrCat("user-", user % 500));
  c.mutable_actor()->set_role(role);
  return c;
}

cv1::CreateDirectiveRequest MakeDirective(const std::string& run, int64_t i, int64_t persons,
                                          std::mt19937_64& rng) {
  const std::vector<cm::SourceId> records = PersonRecords(static_cast<int64_t>(rng() % persons));
  const cm::SourceId& patient = records[rng() % records.size()];
  cv1::CreateDirectiveRequest r;
  *r.mutable_context() =
      Delegated(patient.org(), cm::ROLE_ADMINISTRATIVE_STAFF, absl::StrCat(run, "-", i), i);
  r.set_idempotency_key(absl::StrCat("bench-", run, "-", i));
  cv1::ConsentDirective* d = r.mutable_directive();
  *d->mutable_patient() = patient;
  d->mutable_effective_period()->mutable_start()->set_seconds(std::time(nullptr) - 86400);
  const int kind = static_cast<int>(rng() % 100);
  d->set_effect(kind < 40 || (kind >= 75 && kind < 90) ? cv1::EFFECT_DENY : cv1::EFFECT_PERMIT);
  if (kind >= 75 && kind < 90) {
    cm::Coding* c = d->add_data_categories();
    c->set_system("urn:hie:data-category");
    c->set_code(rng() % 2 == 0 ? "mental-health-notes" : "lab-results");
  } else if (kind >= 90) {
    d->add_actor_orgs(Org(rng));
    d->add_actor_orgs(Org(rng));
  }
  if (rng() % 3 == 0) d->add_custodian_orgs(Org(rng));
  return r;
}

int Load() {
  const int64_t directives = IntFlag("directives", 100000);
  const int64_t persons = std::max<int64_t>(1, IntFlag("persons", 50000));
  const int concurrency = static_cast<int>(IntFlag("concurrency", 8));
  const std::string run = absl::StrCat("b", std::time(nullptr), "-", IntFlag("seed", 1));
  std::vector<std::unique_ptr<cv1::ConsentService::Stub>> stubs;
  std::vector<std::mt19937_64> rngs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(cv1::ConsentService::NewStub(Channel("gateway-client", t)));
    rngs.emplace_back(IntFlag("seed", 1) * 1000 + t);
  }
  std::vector<double> lat;
  int64_t failed = 0;
  double s = RunCalls(
      directives, concurrency,
      [&](int t, int64_t i) {
        cv1::CreateDirectiveRequest request = MakeDirective(run, i, persons, rngs[t]);
        cv1::ConsentDirective response;
        grpc::Status status = stubs[t]->CreateDirective(Ctx().get(), request, &response);
        if (!status.ok() && i < 8) std::fprintf(stderr, "%s\n", status.error_message().c_str());
        return status.ok();
      },
      &lat, &failed);
  std::printf(
      "load     directives=%ld persons=%ld concurrency=%d  %.0f directives/s  %s  "
      "failed=%ld\n",
      static_cast<long>(directives), static_cast<long>(persons), concurrency, directives / s,
      Summary(lat).c_str(), static_cast<long>(failed));
  return failed == 0 ? 0 : 1;
}

// Decide (custodians == 0) or BatchDecide for `custodians` orgs, for random persons.
int Decide(int custodians) {
  const int64_t calls = IntFlag("calls", 20000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  const int64_t persons = std::max<int64_t>(1, IntFlag("persons", 50000));
  std::vector<std::unique_ptr<cv1::ConsentService::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(cv1::ConsentService::NewStub(Channel("gateway-client", t)));
  }
  std::atomic<int64_t> permits = 0, denies = 0, unavailable = 0;
  auto count = [&](const cv1::Decision& d) {
    ++(d.effect() == cv1::EFFECT_PERMIT ? permits : denies);
    if (d.basis() == cv1::DECISION_BASIS_CONSENT_UNAVAILABLE) ++unavailable;
  };
  std::vector<double> lat;
  int64_t failed = 0;
  double s = RunCalls(
      calls, concurrency,
      [&](int t, int64_t i) {
        std::mt19937_64 rng(i * 7919 + 17);
        const std::vector<cm::SourceId> records =
            PersonRecords(static_cast<int64_t>(rng() % persons));
        cm::RequestContext context =
            Delegated(Org(rng), cm::ROLE_CLINICIAN, absl::StrCat("bench-decide-", i), i);
        if (custodians == 0) {
          cv1::DecideRequest request;
          *request.mutable_context() = context;
          for (const auto& r : records) *request.add_patients() = r;
          request.set_custodian_org(Org(rng));
          cv1::Decision response;
          if (!stubs[t]->Decide(Ctx().get(), request, &response).ok()) return false;
          count(response);
          return true;
        }
        cv1::BatchDecideRequest request;
        *request.mutable_context() = context;
        for (const auto& r : records) *request.add_patients() = r;
        for (int c = 0; c < custodians; ++c) request.add_custodian_orgs(absl::StrCat("clinic-", c));
        cv1::BatchDecideResponse response;
        if (!stubs[t]->BatchDecide(Ctx().get(), request, &response).ok()) return false;
        for (const auto& d : response.decisions()) count(d.decision());
        return response.decisions_size() == custodians;
      },
      &lat, &failed);
  const int per_call = std::max(1, custodians);
  std::printf(
      "%s calls=%ld concurrency=%d custodians=%d  %.0f calls/s  %.0f decisions/s  %s  "
      "permit=%ld deny=%ld (unavailable=%ld)  failed=%ld\n",
      custodians == 0 ? "decide  " : "batch   ", static_cast<long>(calls), concurrency, per_call,
      calls / s, calls * per_call / s, Summary(lat).c_str(), static_cast<long>(permits.load()),
      static_cast<long>(denies.load()), static_cast<long>(unavailable.load()),
      static_cast<long>(failed));
  return failed == 0 && unavailable == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: hie-consent-bench echo|load|decide|batch --flag=value...\n");
    return 2;
  }
  if (!hie::bench::ParseFlags(argc, argv, 2)) return 2;
  const std::string mode = argv[1];
  if (mode == "echo") return hie::bench::Echo(kDefaultTarget);
  if (mode == "load") return Load();
  if (mode == "decide") return Decide(0);
  if (mode == "batch") return Decide(static_cast<int>(IntFlag("custodians", 20)));
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
