// hie-locator-bench: load and latency figures of a running hie-locator over gRPC with mutual
// TLS, beside a bare gRPC echo (the health service's Check on the same server and channel
// set-up) in the same run. Benchmark program only: not a test. run_bench.sh runs it in full.
//
//   hie-locator-bench MODE [flags]
//   modes:
//     load    --pg-dsn=DSN --holdings=N --from=K     N holdings K.. written straight through
//                                                    the PostgreSQL store (a bulk import: the
//                                                    RPCs would take an hour at this size), in
//                                                    transactions of 5,000
//     echo    --target --certs --calls=N --concurrency=C
//     locate  --target --certs --queries=N --concurrency=C --ids=I --holdings=N
//             Locate of one person's I source ids (I consecutive holdings of the N loaded, at
//             I different clinics), through the gateway's certificate
//     report  --target --certs --reports=N --concurrency=C --holdings=N
//             ReportActivity (operator) on existing holdings, a new idempotency key each
// Holding k is (clinic-<k % 20>, p-<k>), learnt from the identity feed, with 0-4 documents
// and 1-2 categories; activity times spread over ten years.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "hie/locator/v1/locator.grpc.pb.h"
#include "services/common/bench/bench_support.h"
#include "services/common/pg/pool.h"
#include "services/locator/core/holding_rules.h"
#include "services/locator/store/pg_locator_store.h"

namespace {

namespace lv1 = ::hie::locator::v1;
namespace cm = ::hie::common::v1;
using ::hie::bench::Flag;
using ::hie::bench::IntFlag;
using ::hie::bench::RunCalls;
using ::hie::bench::Summary;

constexpr char kDefaultTarget[] = "127.0.0.1:7002";

cm::SourceId Holder(int64_t k) {
  cm::SourceId id;
  id.set_org(absl::StrCat("clinic-", k % 20));
  id.set_local_id(absl::StrCat("p-", k));
  return id;
}

hie::locator::Holding MakeHolding(int64_t k) {
  static const char* kCategories[] = {"clinical-notes", "lab-results", "imaging", "medications",
                                      "summary"};
  hie::locator::Evidence e{
      .origin = lv1::LOCATION_ORIGIN_IDENTITY_FEED,
      .activity_time = absl::FromUnixSeconds(1'450'000'000 + (k * 7919) % 315'000'000),
      .learnt_time = absl::FromUnixSeconds(1'450'000'000),
      .identity_record = true,
      .registry_documents_delta = k % 5};
  for (int64_t c = 0; c <= k % 2; ++c) {
    cm::Coding coding;
    coding.set_system("urn:hie:data-category");
    coding.set_code(kCategories[(k + c) % 5]);
    e.categories.push_back(coding);
  }
  hie::locator::Holding h = hie::locator::NewHolding(Holder(k));
  hie::locator::ApplyEvidence(e, &h);
  return h;
}

int Load() {
  const int64_t holdings = IntFlag("holdings", 3'000'000);
  const int64_t from = IntFlag("from", 0);
  auto pool = hie::pg::PgPool::Create({.dsn = Flag("pg-dsn"), .size = 2});
  if (!pool.ok()) {
    std::fprintf(stderr, "load: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  hie::locator::PgLocatorStore store(pool->get());
  constexpr int64_t kBatch = 5000;
  std::atomic<int64_t> next = from;
  std::atomic<bool> failed = false;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int64_t first; !failed && (first = next.fetch_add(kBatch)) < from + holdings;) {
        std::vector<hie::locator::Holding> batch;
        for (int64_t k = first; k < std::min(first + kBatch, from + holdings); ++k) {
          batch.push_back(MakeHolding(k));
        }
        absl::Status s =
            store.Transact(absl::Now() + absl::Seconds(120),
                           [&](hie::locator::LocatorTxn& txn) { return txn.PutHoldings(batch); });
        if (!s.ok()) {
          std::fprintf(stderr, "load: %s\n", s.ToString().c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::printf("load     holdings=%ld  %.0f holdings/s (straight through the store)\n",
              static_cast<long>(holdings), holdings / absl::ToDoubleSeconds(absl::Now() - start));
  return failed ? 1 : 0;
}

int Locate() {
  const int64_t queries = IntFlag("queries", 20000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  const int64_t ids = std::max<int64_t>(1, IntFlag("ids", 5));
  const int64_t holdings = std::max<int64_t>(ids, IntFlag("holdings", 3'000'000));
  std::vector<std::unique_ptr<lv1::RecordLocator::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(
        lv1::RecordLocator::NewStub(hie::bench::Channel("gateway-client", t, kDefaultTarget)));
  }
  std::vector<double> lat;
  int64_t failed = 0;
  std::atomic<int64_t> found = 0;
  const hie::bench::MachineCpu cpu;
  double s = RunCalls(
      queries, concurrency,
      [&](int t, int64_t q) {
        const int64_t first = ((q * 7919) % (holdings / ids)) * ids;
        lv1::LocateRequest request;
        request.mutable_context()->set_request_id(absl::StrCat("bench-locate-", q));
        request.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
        request.mutable_context()->mutable_actor()->set_org("clinic-0");
        request.mutable_context()->mutable_actor()->set_role(cm::ROLE_CLINICIAN);
        for (int64_t k = first; k < first + ids; ++k) *request.add_source_ids() = Holder(k);
        lv1::LocateResponse response;
        bool ok = stubs[t]->Locate(hie::bench::Deadline().get(), request, &response).ok();
        found += response.locations_size();
        return ok;
      },
      &lat, &failed);
  std::printf(
      "locate   queries=%ld concurrency=%d ids=%ld  %.0f queries/s  %s  locations found=%ld "
      "failed=%ld  %s\n",
      static_cast<long>(queries), concurrency, static_cast<long>(ids), queries / s,
      Summary(lat).c_str(), static_cast<long>(found.load()), static_cast<long>(failed),
      cpu.PerOperation(queries, "query").c_str());
  return failed == 0 ? 0 : 1;
}

int Report() {
  const int64_t reports = IntFlag("reports", 20000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 8));
  const int64_t holdings = std::max<int64_t>(1, IntFlag("holdings", 3'000'000));
  const std::string run = Flag("run", "r1");
  std::vector<std::unique_ptr<lv1::RecordLocator::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(
        lv1::RecordLocator::NewStub(hie::bench::Channel("operator", t, kDefaultTarget)));
  }
  std::vector<double> lat;
  int64_t failed = 0;
  double s = RunCalls(
      reports, concurrency,
      [&](int t, int64_t r) {
        lv1::ReportActivityRequest request;
        request.mutable_context()->set_request_id(absl::StrCat("bench-report-", r));
        *request.mutable_source_id() = Holder((r * 7919) % holdings);
        request.set_origin(lv1::LOCATION_ORIGIN_ADMIN);
        request.set_idempotency_key(absl::StrCat(run, "-", r));
        lv1::RecordLocation response;
        return stubs[t]->ReportActivity(hie::bench::Deadline().get(), request, &response).ok();
      },
      &lat, &failed);
  std::printf("report   reports=%ld concurrency=%d  %.0f reports/s  %s  failed=%ld\n",
              static_cast<long>(reports), concurrency, reports / s, Summary(lat).c_str(),
              static_cast<long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as the services do
  if (argc < 2) {
    std::fprintf(stderr, "usage: hie-locator-bench load|echo|locate|report --flag=value...\n");
    return 2;
  }
  if (!hie::bench::ParseFlags(argc, argv, 2)) return 2;
  const std::string mode = argv[1];
  if (mode == "load") return Load();
  if (mode == "echo") return hie::bench::Echo(kDefaultTarget);
  if (mode == "locate") return Locate();
  if (mode == "report") return Report();
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
