// hie-registry-bench: load and latency figures of a running hie-registry over gRPC with mutual
// TLS, beside a bare gRPC echo (the health service's Check on the same server and channel
// set-up) in the same run. Benchmark program only: not a test. run_bench.sh runs it in full.
//
//   hie-registry-bench MODE --target=HOST:PORT --certs=DIR [flags]
//   modes:
//     echo     --calls=N --concurrency=C             health Check round trips
//     publish  --entries=N --set=S --concurrency=C   RegisterSubmissionSet of S entries each,
//              --patients=P --run=NAME               entry k for patient k % P of run NAME
//              [--follow=true]                       (P a multiple of 20: the 20 clinics);
//                                                    --follow: a change-feed reader runs
//                                                    meanwhile as the locator's does (pages of
//                                                    500, 200 ms pause after a short one; the
//                                                    locator's certificate), so the registry
//                                                    stamps the feed as in a deployment; it
//                                                    catches up before the publications start
//     find     --queries=N --concurrency=C           FindDocuments of one patient of run NAME
//              --patients=P --run=NAME --page=N      (of P), first page of N entries
//     load     --pg-dsn=DSN --entries=N --patients=P  entries of run NAME written straight
//              --run=NAME                            through the PostgreSQL store as the
//                                                    submission plan would (a bulk import: at
//                                                    10M entries the RPCs would take an hour),
//                                                    1,000 per transaction
// Every call goes through the gateway's certificate acting for the patient's clinic (member
// system). Prints one line per mode: calls/s (entries/s) and latency percentiles of the calls.

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "hie/registry/v1/registry.grpc.pb.h"
#include "services/common/bench/bench_support.h"
#include "services/common/pg/pool.h"
#include "services/common/proto_time.h"
#include "services/registry/core/registry_operations.h"
#include "services/registry/store/pg_registry_store.h"

namespace {

namespace rv1 = ::hie::registry::v1;
namespace cm = ::hie::common::v1;
using ::hie::bench::Flag;
using ::hie::bench::IntFlag;
using ::hie::bench::RunCalls;
using ::hie::bench::Summary;

constexpr char kDefaultTarget[] = "127.0.0.1:7003";

std::unique_ptr<rv1::DocumentRegistry::Stub> Stub(int index) {
  return rv1::DocumentRegistry::NewStub(
      hie::bench::Channel("gateway-client", index, kDefaultTarget));
}

std::string Org(int64_t patient) { return absl::StrCat("clinic-", patient % 20); }

cm::RequestContext Context(const std::string& org, const std::string& request_id) {
  cm::RequestContext c;
  c.set_request_id(request_id);
  c.set_purpose_of_use(cm::PURPOSE_OF_USE_TREATMENT);
  c.mutable_actor()->set_org(org);
  c.mutable_actor()->set_role(cm::ROLE_MEMBER_SYSTEM);
  return c;
}

cm::SourceId Patient(const std::string& run, int64_t patient) {
  cm::SourceId p;
  p.set_org(Org(patient));
  p.set_local_id(absl::StrCat(run, "-", patient));
  return p;
}

// Entry k of the run: realistic codes and sizes; creation times spread over ten years.
void FillEntry(const std::string& run, int64_t k, int64_t patients, rv1::DocumentEntry* e) {
  static const char* kClasses[] = {"11488-4", "11506-3", "18842-5", "11502-2", "18748-4"};
  const int64_t patient = k % patients;
  e->set_unique_id(absl::StrCat("2.25.", run, ".", k));
  *e->mutable_patient() = Patient(run, patient);
  e->mutable_class_code()->set_system("http://loinc.org");
  e->mutable_class_code()->set_code(kClasses[k % 5]);
  *e->mutable_type_code() = e->class_code();
  e->mutable_format_code()->set_system("urn:ihe:format");
  e->mutable_format_code()->set_code("urn:ihe:pcc:xphr:2007");
  e->set_mime_type("text/xml");
  auto* conf = e->add_confidentiality_codes();
  conf->set_system("http://terminology.hl7.org/CodeSystem/v3-Confidentiality");
  conf->set_code("N");
  e->set_title(absl::StrCat("Document ", k));
  e->set_language_code("en-US");
  auto* author = e->add_authors();
  author->set_person_id(absl::StrCat("dr-", k % 97));
  author->set_institution(absl::StrCat(Org(patient), " Cardiology"));
  e->mutable_creation_time()->set_seconds(1'450'000'000 + (k * 7919) % 315'000'000);
  e->mutable_hash()->set_algorithm(rv1::ContentHash::ALGORITHM_SHA256);
  std::string digest(32, '\0');
  for (int i = 0; i < 8; ++i) digest[i] = static_cast<char>((k >> (8 * i)) & 0xff);
  e->mutable_hash()->set_digest(digest);
  e->set_size_bytes(20'000 + k % 50'000);
  e->mutable_location()->set_member_org(Org(patient));
  e->mutable_location()->set_repository_unique_id("1.2.840.1");
}

// Reads the change feed from the start, as the locator's follower does, until `stop` is set and
// a page comes back short (caught up); sets `caught_up` at the first short page. The number of
// changes read after that, or -1 after an error.
int64_t FollowChanges(const std::atomic<bool>& stop, std::atomic<bool>& caught_up) {
  auto stub =
      rv1::DocumentRegistry::NewStub(hie::bench::Channel("locator-client", 0, kDefaultTarget));
  rv1::ChangePosition after;
  int64_t read = 0;
  for (int64_t page = 0;; ++page) {
    rv1::ListChangesRequest request;
    request.mutable_context()->set_request_id(absl::StrCat("bench-follow-", page));
    request.mutable_context()->set_purpose_of_use(cm::PURPOSE_OF_USE_SYSTEM_ADMINISTRATION);
    *request.mutable_after() = after;
    request.set_page_size(500);
    rv1::ListChangesResponse response;
    grpc::Status status = stub->ListChanges(hie::bench::Deadline().get(), request, &response);
    if (!status.ok()) {
      std::fprintf(stderr, "follow: %s\n", status.error_message().c_str());
      caught_up = true;
      return -1;
    }
    if (caught_up) read += response.changes_size();
    if (!response.changes().empty()) after = response.changes().rbegin()->position();
    if (response.changes_size() < 500) {
      if (stop) return read;
      caught_up = true;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }
}

int Publish() {
  const int64_t entries = IntFlag("entries", 100000);
  const int64_t set = std::max<int64_t>(1, IntFlag("set", 10));
  const int concurrency = static_cast<int>(IntFlag("concurrency", 8));
  const int64_t patients = std::max<int64_t>(1, IntFlag("patients", 100000));
  const std::string run = Flag("run", "r1");
  if (patients % 20 != 0) {
    std::fprintf(stderr, "--patients must be a multiple of 20 (a set stays in one org)\n");
    return 2;
  }
  std::vector<std::unique_ptr<rv1::DocumentRegistry::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) stubs.push_back(Stub(t));
  // A set holds entries of one patient's org: entry k goes to patient k % P, and a set takes
  // `set` consecutive entries of patients in one org (stride 20 keeps the org).
  const int64_t calls = (entries + set - 1) / set;
  std::vector<double> lat;
  int64_t failed = 0;
  std::atomic<bool> reported = false;
  const bool follow = Flag("follow", "false") == "true";
  std::atomic<bool> published = false, caught_up = false;
  std::atomic<int64_t> followed = 0;
  std::thread follower;
  if (follow) {
    follower = std::thread([&] { followed = FollowChanges(published, caught_up); });
    while (!caught_up) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  const hie::bench::MachineCpu cpu;
  double s = RunCalls(
      calls, concurrency,
      [&](int t, int64_t c) {
        rv1::RegisterSubmissionSetRequest request;
        const int64_t first = (c / 20) * 20 * set + c % 20;  // entries first, first + 20, ...
        request.set_idempotency_key(absl::StrCat(run, "-", c));
        request.mutable_submission_set()->set_unique_id(absl::StrCat("2.25.", run, ".set.", c));
        for (int64_t i = 0; i < set; ++i) {
          FillEntry(run, first + 20 * i, patients, request.add_entries());
        }
        *request.mutable_context() =
            Context(request.entries(0).patient().org(), absl::StrCat("bench-", run, "-", c));
        rv1::RegisterSubmissionSetResponse response;
        grpc::Status status =
            stubs[t]->RegisterSubmissionSet(hie::bench::Deadline().get(), request, &response);
        if (!status.ok() && !reported.exchange(true)) {
          std::fprintf(stderr, "publish: %s\n", status.error_message().c_str());
        }
        return status.ok();
      },
      &lat, &failed);
  const std::string cpu_line = cpu.PerOperation(calls, "set");
  std::string followed_line;
  if (follow) {
    published = true;
    follower.join();
    followed_line = absl::StrCat("  with a follower (", followed.load(), " changes read)");
  }
  std::printf(
      "publish  entries=%ld set=%ld concurrency=%d patients=%ld  %.0f entries/s  per call: %s  "
      "failed calls=%ld  %s%s\n",
      static_cast<long>(calls * set), static_cast<long>(set), concurrency,
      static_cast<long>(patients), calls * set / s, Summary(lat).c_str(), static_cast<long>(failed),
      cpu_line.c_str(), followed_line.c_str());
  return failed == 0 && followed >= 0 ? 0 : 1;
}

int Find() {
  const int64_t queries = IntFlag("queries", 2000);
  const int concurrency = static_cast<int>(IntFlag("concurrency", 1));
  const int64_t patients = std::max<int64_t>(1, IntFlag("patients", 100));
  const int page = static_cast<int>(IntFlag("page", 100));
  const std::string run = Flag("run", "hot");
  std::vector<std::unique_ptr<rv1::DocumentRegistry::Stub>> stubs;
  for (int t = 0; t < concurrency; ++t) stubs.push_back(Stub(t));
  std::vector<double> lat;
  int64_t failed = 0;
  std::atomic<int64_t> found = 0;
  const hie::bench::MachineCpu cpu;
  double s = RunCalls(
      queries, concurrency,
      [&](int t, int64_t q) {
        const int64_t patient = (q * 7919) % patients;
        rv1::FindDocumentsRequest request;
        *request.mutable_context() = Context(Org(patient), absl::StrCat("bench-find-", q));
        *request.add_patients() = Patient(run, patient);
        request.set_page_size(page);
        rv1::FindDocumentsResponse response;
        bool ok = stubs[t]->FindDocuments(hie::bench::Deadline().get(), request, &response).ok();
        found += response.entries_size();
        return ok;
      },
      &lat, &failed);
  std::printf(
      "find     queries=%ld concurrency=%d page=%d  %.0f queries/s  %s  entries found=%ld "
      "failed=%ld  %s\n",
      static_cast<long>(queries), concurrency, page, queries / s, Summary(lat).c_str(),
      static_cast<long>(found.load()), static_cast<long>(failed),
      cpu.PerOperation(queries, "query").c_str());
  return failed == 0 ? 0 : 1;
}

// Entries of run NAME straight through the store, with the fields the submission plan assigns.
int Load() {
  const int64_t entries = IntFlag("entries", 1'000'000);
  const int64_t patients = std::max<int64_t>(1, IntFlag("patients", 100000));
  const std::string run = Flag("run", "bulk");
  auto pool = hie::pg::PgPool::Create({.dsn = Flag("pg-dsn"), .size = 2});
  if (!pool.ok()) {
    std::fprintf(stderr, "load: %s\n", pool.status().ToString().c_str());
    return 1;
  }
  hie::registry::PgRegistryStore store(pool->get());
  constexpr int64_t kBatch = 1000;
  std::atomic<int64_t> next = 0;
  std::atomic<bool> failed = false;
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int t = 0; t < 2; ++t) {
    threads.emplace_back([&] {
      for (int64_t first; !failed && (first = next.fetch_add(kBatch)) < entries;) {
        rv1::SubmissionSet set;
        set.set_id(hie::registry::RandomUuid());
        set.set_unique_id(absl::StrCat("2.25.", run, ".set.", first));
        set.set_source_org("bulk");
        hie::SetTimestamp(absl::Now(), set.mutable_submission_time());
        std::vector<rv1::DocumentEntry> batch;
        for (int64_t k = first; k < std::min(first + kBatch, entries); ++k) {
          rv1::DocumentEntry e;
          FillEntry(run, k, patients, &e);
          e.mutable_location()->set_retrieve_key(e.unique_id());
          e.set_entry_uuid(hie::registry::RandomUuid());
          e.set_logical_id(e.entry_uuid());
          e.set_version(1);
          e.set_status(rv1::AVAILABILITY_STATUS_APPROVED);
          e.set_submission_set_id(set.id());
          *e.mutable_submission_time() = set.submission_time();
          batch.push_back(std::move(e));
        }
        absl::Status s = store.Transact(
            absl::Now() + absl::Seconds(120),
            [&](hie::registry::RegistryTxn& txn) { return txn.Insert(set, batch, {}); });
        if (!s.ok()) {
          std::fprintf(stderr, "load: %s\n", s.ToString().c_str());
          failed = true;
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  std::printf("load     entries=%ld patients=%ld  %.0f entries/s (straight through the store)\n",
              static_cast<long>(entries), static_cast<long>(patients),
              entries / absl::ToDoubleSeconds(absl::Now() - start));
  return failed ? 1 : 0;
}

}  // namespace

int main(int argc, char** argv) {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);  // as the services do
  if (argc < 2) {
    std::fprintf(stderr, "usage: hie-registry-bench echo|publish|find|load --flag=value...\n");
    return 2;
  }
  if (!hie::bench::ParseFlags(argc, argv, 2)) return 2;
  const std::string mode = argv[1];
  if (mode == "echo") return hie::bench::Echo(kDefaultTarget);
  if (mode == "publish") return Publish();
  if (mode == "find") return Find();
  if (mode == "load") return Load();
  std::fprintf(stderr, "unknown mode %s\n", mode.c_str());
  return 2;
}
