// hie-audit-bench: load and latency figures of a running hie-audit over gRPC with mutual TLS,
// beside a bare gRPC echo (the health service's Check on the same server and channel setup) in
// the same run. Benchmark program only: not a test. run_bench.sh runs it in full.
//
//   hie-audit-bench MODE --target=HOST:PORT --certs=DIR [flags]
//   modes:
//     echo    --calls=N --concurrency=C                  health Check round trips
//             --driver=threads|callback                  as for record
//     record  --events=N --batch=B --concurrency=C       RecordBatch of B (B=1: Record)
//             --driver=threads|callback                  a blocked thread per caller (default)
//                                                        or gRPC's callback API (B=1 only)
//             --patients=P --seed=S                      patients drawn from P source ids
//             --connections=N                            the callers share N connections
//                                                        (echo too; default one per caller)
//     verify                                             Verify of the whole chain
//     search  --queries=N --patients=P --concurrency=C   SearchEvents by one patient, last
//                                                        hour, first page of 100
// Prints one line per mode: calls/s or events/s and latency percentiles of the calls.

#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "grpc/health/v1/health.grpc.pb.h"
#include "hie/audit/v1/audit.grpc.pb.h"
#include "services/common/bench/bench_support.h"

namespace {

namespace av1 = ::hie::audit::v1;
using ::hie::bench::Flag;
using ::hie::bench::IntFlag;
using ::hie::bench::RunCalls;
using ::hie::bench::Summary;

constexpr char kDefaultTarget[] = "127.0.0.1:7005";

std::shared_ptr<grpc::Channel> Channel(const std::string& cert, int index) {
  return hie::bench::Channel(cert, index, kDefaultTarget);
}
std::unique_ptr<grpc::ClientContext> Ctx(int seconds = 30) { return hie::bench::Deadline(seconds); }

av1::AuditEvent MakeEvent(const std::string& run, int64_t i, std::mt19937_64& rng,
                          int64_t patients) {
  av1::AuditEvent e;
  e.set_event_id(absl::StrCat(run, "-", i));
  e.mutable_event_time()->set_seconds(std::time(nullptr));
  static const av1::EventType kTypes[] = {av1::EVENT_TYPE_QUERY, av1::EVENT_TYPE_DISCLOSURE,
                                          av1::EVENT_TYPE_DISCLOSURE,
                                          av1::EVENT_TYPE_CONSENT_DECISION};
  e.set_type(kTypes[rng() % 4]);
  e.set_action(e.type() == av1::EVENT_TYPE_QUERY ? "gateway.FindOutsideRecords"
                                                 : "gateway.RetrieveDocument");
  e.set_outcome(rng() % 20 == 0 ? av1::OUTCOME_DENIED : av1::OUTCOME_SUCCESS);
  e.mutable_actor()->set_org(absl::StrCat("clinic-", rng() % 20));
  e.mutable_actor()->set_user_id(absl::StrCat("user-", rng() % 1000));
  e.mutable_actor()->set_role(hie::common::v1::ROLE_CLINICIAN);
  e.set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_TREATMENT);
  e.set_request_id(absl::StrCat("req-", run, "-", i / 3));
  auto* p = e.add_patients();
  int64_t patient = static_cast<int64_t>(rng() % patients);
  p->set_org(absl::StrCat("clinic-", patient % 20));
  p->set_local_id(absl::StrCat("MRN-", patient));
  e.set_custodian_org(p->org());
  e.set_recipient_org(e.actor().org());
  auto* o = e.add_objects();
  o->set_kind("document_entry");
  o->set_id(absl::StrCat("doc-", rng() % 1000000));
  e.set_decision_id(absl::StrCat("dec-", i));
  return e;
}

int Record() {
  const int64_t events = IntFlag("events", 100000);
  const int64_t batch = std::max<int64_t>(1, IntFlag("batch", 1000));
  const int concurrency = static_cast<int>(IntFlag("concurrency", 4));
  const int64_t patients = std::max<int64_t>(1, IntFlag("patients", 100000));
  const std::string run = absl::StrCat("b", std::time(nullptr), "-", IntFlag("seed", 1));
  std::vector<std::unique_ptr<av1::AuditLog::Stub>> stubs;
  std::vector<std::mt19937_64> rngs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(av1::AuditLog::NewStub(Channel("gateway-client", t)));
    rngs.emplace_back(IntFlag("seed", 1) * 1000 + t);
  }
  const int64_t calls = (events + batch - 1) / batch;
  std::vector<double> lat;
  int64_t failed = 0;
  const bool callback = hie::bench::CallbackDriver();
  if (callback && batch != 1) {
    std::fprintf(stderr, "--driver=callback is for single-event Record calls (--batch=1)\n");
    return 2;
  }
  struct RecordCall {
    std::unique_ptr<grpc::ClientContext> ctx = Ctx();
    av1::RecordRequest request;
    av1::RecordResponse response;
  };
  const hie::bench::MachineCpu cpu;
  double s =
      callback
          ? hie::bench::RunCallbackCalls(
                calls, concurrency,
                [&](int t, int64_t c, hie::bench::CallDone done) {
                  auto* call = new RecordCall;
                  call->request.mutable_context()->set_request_id(absl::StrCat("bench-", c));
                  *call->request.mutable_event() = MakeEvent(run, c, rngs[t], patients);
                  stubs[t]->async()->Record(call->ctx.get(), &call->request, &call->response,
                                            [call, done = std::move(done)](grpc::Status status) {
                                              delete call;
                                              done(status.ok());
                                            });
                },
                &lat, &failed)
          : RunCalls(
                calls, concurrency,
                [&](int t, int64_t c) {
                  if (batch == 1) {
                    av1::RecordRequest request;
                    request.mutable_context()->set_request_id(absl::StrCat("bench-", c));
                    *request.mutable_event() = MakeEvent(run, c, rngs[t], patients);
                    av1::RecordResponse response;
                    return stubs[t]->Record(Ctx().get(), request, &response).ok();
                  }
                  av1::RecordBatchRequest request;
                  request.mutable_context()->set_request_id(absl::StrCat("bench-", c));
                  for (int64_t i = c * batch; i < std::min(events, (c + 1) * batch); ++i) {
                    *request.add_events() = MakeEvent(run, i, rngs[t], patients);
                  }
                  av1::RecordBatchResponse response;
                  grpc::Status status = stubs[t]->RecordBatch(Ctx().get(), request, &response);
                  if (!status.ok() && c == 0)
                    std::fprintf(stderr, "%s\n", status.error_message().c_str());
                  return status.ok();
                },
                &lat, &failed);
  std::printf(
      "record   events=%ld batch=%ld concurrency=%d%s%s  %.0f events/s  per call: %s  "
      "failed calls=%ld  %s\n",
      static_cast<long>(events), static_cast<long>(batch), concurrency,
      hie::bench::ConnectionsNote().c_str(), callback ? " driver=callback" : "", events / s,
      Summary(lat).c_str(), static_cast<long>(failed), cpu.PerOperation(events, "event").c_str());
  return failed == 0 ? 0 : 1;
}

int Verify() {
  auto stub = av1::AuditLog::NewStub(Channel("auditor", 0));
  av1::VerifyRequest request;
  request.mutable_context()->set_request_id("bench-verify");
  av1::VerifyResult result;
  auto begin = std::chrono::steady_clock::now();
  grpc::Status status = stub->Verify(Ctx(3600).get(), request, &result);
  double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
  if (!status.ok()) {
    std::fprintf(stderr, "verify: %s\n", status.error_message().c_str());
    return 1;
  }
  std::printf(
      "verify   events=%ld checkpoints=%ld status=%s  %.2f s  %.0f events/s\n",
      static_cast<long>(result.events_checked()), static_cast<long>(result.checkpoints_checked()),
      av1::VerifyResult::Status_Name(result.status()).c_str(), s, result.events_checked() / s);
  return result.status() == av1::VerifyResult::STATUS_VALID ? 0 : 1;
}

int Search() {
  const int64_t queries = IntFlag("queries", 2000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  const int64_t patients = std::max<int64_t>(1, IntFlag("patients", 100000));
  std::vector<std::unique_ptr<av1::AuditLog::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) {
    stubs.push_back(av1::AuditLog::NewStub(Channel("auditor", t)));
  }
  std::vector<double> lat;
  int64_t failed = 0;
  std::atomic<int64_t> found = 0;
  double s = RunCalls(
      queries, concurrency,
      [&](int t, int64_t q) {
        std::mt19937_64 rng(q * 7919 + 13);
        int64_t patient = static_cast<int64_t>(rng() % patients);
        av1::SearchEventsRequest request;
        request.mutable_context()->set_request_id(absl::StrCat("bench-search-", q));
        auto* p = request.add_patients();
        p->set_org(absl::StrCat("clinic-", patient % 20));
        p->set_local_id(absl::StrCat("MRN-", patient));
        request.mutable_event_time()->mutable_start()->set_seconds(std::time(nullptr) - 86400 * 30);
        av1::SearchEventsResponse response;
        bool ok = stubs[t]->SearchEvents(Ctx().get(), request, &response).ok();
        found += response.events_size();
        return ok;
      },
      &lat, &failed);
  std::printf(
      "search   queries=%ld concurrency=%d  %.0f queries/s  %s  events found=%ld "
      "failed=%ld\n",
      static_cast<long>(queries), concurrency, queries / s, Summary(lat).c_str(),
      static_cast<long>(found.load()), static_cast<long>(failed));
  return failed == 0 ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as the services do
  if (argc < 2) {
    std::fprintf(stderr, "usage: hie-audit-bench echo|record|verify|search --flag=value...\n");
    return 2;
  }
  if (!hie::bench::ParseFlags(argc, argv, 2)) return 2;
  const std::string mode = argv[1];
  if (mode == "echo") return hie::bench::Echo(kDefaultTarget);
  if (mode == "record") return Record();
  if (mode == "verify") return Verify();
  if (mode == "search") return Search();
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
