// hie-identity-bench: load and latency benchmark of the identity service (hie-identity) over
// gRPC with mutual TLS. Not a test: it prints figures. run_bench.sh drives it end to end.
// One file of about 870 lines, and RunLoad about 160, because a benchmark reads best as one
// straight sequence of phases whose figures docs/benchmarks.md quotes.
//
//   hie-identity-bench load     --records N [--concurrency C] [--batch B] [--offset K]
//                               [--max-seconds S]
//   hie-identity-bench query    --records N [--samples S] [--callers 4]
//   hie-identity-bench snapshot --records N [--samples S] --out FILE
//   hie-identity-bench hl7      --records H --offset N [--concurrency C] --cert-dir DIR
//   hie-identity-bench rebuild  --records N --pg-dsn DSN [--samples S --compare FILE --out F]
//
// Common flags: --target HOST:PORT (127.0.0.1:7101), --tls-ca/--tls-cert/--tls-key (an
// `operator` certificate), --seed (42), --population P (records generated, default N + offset).
//
// The data set is hie::mpi::GeneratePopulation with a fixed seed: persons with duplicate records
// across clinics carrying data-entry errors (so registrations exercise linking, review and new
// persons). The first N records of the (shuffled) population are the data set; every mode
// regenerates it from (seed, population), so `query` and `snapshot` know which source ids `load`
// registered. Records are mapped to hie.common.v1.Demographics as IdentityService expects
// (the reverse of ToEngineRecord in services/identity/core/mpi_matcher.cc); birth dates in other
// formats than YYYY-MM-DD are normalised with hie::mpi::ParseBirthDate (the service accepts only
// ISO dates), placeholders and unparseable dates are sent without a date.
//
// load: C threads, each with its own channel and stub, take the next record and call
// RegisterSourceRecord synchronously (one call in flight per thread), or with --batch B > 1 the
// next B records and call RegisterSourceRecords, with an idempotency key per record derived
// from (seed, record index), so a rerun against the same database replays stored results. Retryable
// codes (ABORTED, UNAVAILABLE, RESOURCE_EXHAUSTED, DEADLINE_EXCEEDED, UNKNOWN) are retried with the
// same key up to 5 times; every failed attempt is counted by code. Prints overall registrations/s,
// the rate in each 10% window of completions (sustained rate, not a burst), latency percentiles and
// the outcome mix.
//
// query: Resolve latency over S random registered source ids (single caller), SearchPersons
// latency with a realistic query (family, given, birth date, postal code of a registered
// record, as that clinic typed them), then both again with --callers concurrent callers
// (throughput). 200 warm-up calls precede each measurement.
//
// snapshot: a canonical text dump of Resolve (person and cross-references) and SearchPersons
// (person ids and scores of the top matches) for S sampled records; run_bench.sh diffs it
// before and after a restart of the service (index rebuilt from PostgreSQL).
//
// rebuild: hie-identity's start-up index rebuild (IdentityManager::RebuildIndex over
// PgIdentityStore, as main.cc wires it) run in this process with a finite deadline and timed;
// with --compare FILE, the in-process answers for the snapshot sample are compared with a
// snapshot taken from the service. (Exists because hie-identity's own rebuild runs with an
// infinite deadline, which PgPool::Run turns into statement_timeout = 1 ms; see docs.)
//
// hl7: records [offset, offset+H) of the population, those of the orgs we hold a member
// certificate for (--hl7-orgs, certificates <org>.pem/.key in --cert-dir, as gen-certs.sh
// issues them), sent as ADT^A04 over MLLP with mutual TLS to the service's HL7 listener; C
// connections (connection c sends for org c mod #orgs), each waiting for the ACK of a message
// before sending the next. Prints messages/s acknowledged AA, round-trip latency, ACK codes.

#include <grpcpp/create_channel.h>
#include <grpcpp/grpcpp.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "hie/identity/v1/identity.grpc.pb.h"
#include "hie/mpi/generator.h"
#include "hie/mpi/model.h"
#include "hie/mpi/nicknames.h"
#include "hie/mpi/normalize.h"
#include "services/common/pg/pool.h"
#include "services/common/status.h"
#include "services/common/tls.h"
#include "services/identity/bench/generated_dataset.h"
#include "services/identity/core/identity_manager.h"
#include "services/identity/core/mpi_matcher.h"
#include "services/identity/hl7/mllp_server.h"
#include "services/identity/store/pg_identity_store.h"

namespace {

namespace v1 = ::hie::identity::v1;
namespace common = ::hie::common::v1;
using Clock = std::chrono::steady_clock;

// ---------------------------------------------------------------------------------------------
// Flags

struct Flags {
  std::string mode;
  std::string target = "127.0.0.1:7101";
  std::string tls_ca = "var/certs/ca.pem";
  std::string tls_cert = "var/certs/operator.pem";
  std::string tls_key = "var/certs/operator.key";
  uint64_t seed = 42;
  int64_t records = 10000;
  int64_t offset = 0;
  int64_t population = 0;  // 0 = records + offset
  int concurrency = 8;
  int batch = 1;  // load: records per call; > 1 uses RegisterSourceRecords
  int64_t samples = 10000;
  int callers = 4;
  double max_seconds = 0;  // 0 = no limit
  std::string out;
  std::string hl7_target = "127.0.0.1:7102";
  std::string cert_dir = "var/certs";  // hl7: <org>.pem/.key member certificates and ca.pem
  std::string hl7_orgs = "clinic-a,clinic-b,clinic-c";
  std::string pg_dsn;       // rebuild
  std::string compare;      // rebuild: a snapshot file to compare the in-process answers with
};

[[noreturn]] void Usage(const std::string& error) {
  if (!error.empty()) std::cerr << "hie-identity-bench: " << error << "\n";
  std::cerr << "usage: hie-identity-bench load|query|snapshot|hl7|rebuild [--target HOST:PORT]\n"
               "         [--tls-ca F --tls-cert F --tls-key F] [--seed S] [--records N]\n"
               "         [--offset K] [--population P] [--concurrency C] [--batch B]\n"
               "         [--max-seconds S]\n"
               "         [--samples S] [--callers C] [--out FILE]\n"
               "         [--hl7-target HOST:PORT --cert-dir DIR --hl7-orgs a,b,c]\n"
               "         [--pg-dsn DSN --compare SNAPSHOT_FILE]\n";
  std::exit(2);
}

Flags ParseFlags(int argc, char** argv) {
  Flags f;
  if (argc < 2) Usage("");
  f.mode = argv[1];
  if (f.mode == "--help" || f.mode == "-h") Usage("");
  if (f.mode != "load" && f.mode != "query" && f.mode != "snapshot" && f.mode != "hl7" &&
      f.mode != "rebuild") {
    Usage("unknown mode " + f.mode);
  }
  for (int i = 2; i < argc; ++i) {
    std::string arg = argv[i];
    std::string value;
    size_t eq = arg.find('=');
    if (eq != std::string::npos) {
      value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    } else {
      if (i + 1 >= argc) Usage("flag " + arg + " needs a value");
      value = argv[++i];
    }
    auto num = [&]() -> double {
      char* end = nullptr;
      double v = std::strtod(value.c_str(), &end);
      if (end == value.c_str() || *end != '\0') Usage("bad number for " + arg);
      return v;
    };
    if (arg == "--target") f.target = value;
    else if (arg == "--tls-ca") f.tls_ca = value;
    else if (arg == "--tls-cert") f.tls_cert = value;
    else if (arg == "--tls-key") f.tls_key = value;
    else if (arg == "--seed") f.seed = static_cast<uint64_t>(num());
    else if (arg == "--records") f.records = static_cast<int64_t>(num());
    else if (arg == "--offset") f.offset = static_cast<int64_t>(num());
    else if (arg == "--population") f.population = static_cast<int64_t>(num());
    else if (arg == "--concurrency") f.concurrency = static_cast<int>(num());
    else if (arg == "--batch") f.batch = static_cast<int>(num());
    else if (arg == "--samples") f.samples = static_cast<int64_t>(num());
    else if (arg == "--callers") f.callers = static_cast<int>(num());
    else if (arg == "--max-seconds") f.max_seconds = num();
    else if (arg == "--out") f.out = value;
    else if (arg == "--hl7-target") f.hl7_target = value;
    else if (arg == "--cert-dir") f.cert_dir = value;
    else if (arg == "--hl7-orgs") f.hl7_orgs = value;
    else if (arg == "--pg-dsn") f.pg_dsn = value;
    else if (arg == "--compare") f.compare = value;
    else Usage("unknown flag " + arg);
  }
  if (f.records <= 0 || f.offset < 0 || f.concurrency <= 0 || f.samples <= 0 || f.callers <= 0) {
    Usage("--records, --concurrency, --samples, --callers must be > 0");
  }
  if (f.batch < 1 || f.batch > 50) Usage("--batch must be 1 to 50");
  if (f.population == 0) f.population = f.records + f.offset;
  if (f.population < f.records + f.offset) Usage("--population must be >= records + offset");
  if (f.mode == "snapshot" && f.out.empty()) Usage("snapshot needs --out");
  if (f.mode == "rebuild" && f.pg_dsn.empty()) Usage("rebuild needs --pg-dsn");
  return f;
}

// ---------------------------------------------------------------------------------------------
// Data set

// The first `count` records of a generated population, deterministic in (seed, count).
std::vector<hie::mpi::Record> Dataset(uint64_t seed, int64_t count) {
  hie::mpi::GeneratedPopulation population =
      *hie::identity::bench::GenerateDataset(seed, count);  // the default profile exists
  std::vector<hie::mpi::Record> out;
  out.reserve(population.records.size());
  for (hie::mpi::LabelledRecord& r : population.records) out.push_back(std::move(r.record));
  return out;
}

using hie::identity::bench::SourceIdOf;
using hie::identity::bench::ToDemographics;

// The query a registration clerk would type: family, given, birth date, postal code.
common::Demographics SearchQueryOf(const hie::mpi::Record& r) {
  common::Demographics full = ToDemographics(r);
  common::Demographics q;
  q.mutable_name()->set_family(full.name().family());
  q.mutable_name()->set_given(full.name().given());
  q.set_birth_date(full.birth_date());
  if (full.addresses_size() > 0 && !full.addresses(0).postal_code().empty()) {
    q.add_addresses()->set_postal_code(full.addresses(0).postal_code());
  }
  if (q.name().family().empty() && q.birth_date().empty()) q.mutable_name()->set_family("SMITH");
  return q;
}

// ---------------------------------------------------------------------------------------------
// gRPC

std::unique_ptr<v1::IdentityService::Stub> NewStub(const Flags& f, int channel_index) {
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> creds =
      hie::MakeTlsChannelCredentials({f.tls_ca, f.tls_cert, f.tls_key});
  if (!creds.ok()) {
    std::cerr << "hie-identity-bench: " << creds.status().message() << "\n";
    std::exit(2);
  }
  grpc::ChannelArguments args;
  // One connection per caller, as separate clients would have.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt("hie.bench.channel", channel_index);
  return v1::IdentityService::NewStub(grpc::CreateCustomChannel(f.target, *creds, args));
}

void FillContext(common::RequestContext* context, const std::string& request_id) {
  context->set_request_id(request_id);
  context->set_purpose_of_use(common::PURPOSE_OF_USE_OPERATIONS);
}

void PrepareCall(grpc::ClientContext* call, double seconds) {
  call->set_deadline(std::chrono::system_clock::now() +
                     std::chrono::microseconds(static_cast<int64_t>(seconds * 1e6)));
}

bool Retryable(grpc::StatusCode code) {
  return code == grpc::ABORTED || code == grpc::UNAVAILABLE || code == grpc::RESOURCE_EXHAUSTED ||
         code == grpc::DEADLINE_EXCEEDED || code == grpc::UNKNOWN;
}

// Latencies in microseconds.
struct Percentiles {
  double p50 = 0, p90 = 0, p99 = 0, max = 0, mean = 0;
  size_t n = 0;
};

Percentiles Summarise(std::vector<double> v) {
  Percentiles p;
  p.n = v.size();
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(std::ceil(q * v.size())) - 1;
    return v[std::min(i, v.size() - 1)];
  };
  p.p50 = at(0.50);
  p.p90 = at(0.90);
  p.p99 = at(0.99);
  p.max = v.back();
  double sum = 0;
  for (double x : v) sum += x;
  p.mean = sum / v.size();
  return p;
}

void PrintLatency(const char* what, const Percentiles& p) {
  std::printf("%-34s n=%zu  p50 %.3f ms  p90 %.3f ms  p99 %.3f ms  max %.3f ms  mean %.3f ms\n",
              what, p.n, p.p50 / 1e3, p.p90 / 1e3, p.p99 / 1e3, p.max / 1e3, p.mean / 1e3);
}

double Micros(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::micro>(b - a).count();
}

// ---------------------------------------------------------------------------------------------
// load

int RunLoad(const Flags& f) {
  std::vector<hie::mpi::Record> all = Dataset(f.seed, f.population);
  const int64_t n = f.records;
  std::vector<v1::RegisterSourceRecordRequest> requests(n);
  int64_t dates_dropped = 0;
  for (int64_t i = 0; i < n; ++i) {
    const hie::mpi::Record& r = all[f.offset + i];
    v1::RegisterSourceRecordRequest& q = requests[i];
    *q.mutable_source_id() = SourceIdOf(r);
    *q.mutable_demographics() = ToDemographics(r);
    if (!r.birth_date.empty() && q.demographics().birth_date().empty()) ++dates_dropped;
    q.set_idempotency_key("bench-" + std::to_string(f.seed) + "-" + std::to_string(f.offset + i));
  }
  all.clear();
  all.shrink_to_fit();
  std::fprintf(stderr, "load: %" PRId64 " requests built (%" PRId64
               " unusable birth dates sent empty); %d callers\n",
               n, dates_dropped, f.concurrency);

  std::atomic<int64_t> next{0};
  std::atomic<int64_t> completed{0};
  std::vector<double> completion_time(n, 0.0);  // seconds since start, by completion order
  std::vector<double> latency(n, -1.0);         // microseconds incl. retries, by record
  std::mutex mu;
  std::map<std::string, int64_t> attempt_errors;  // failed attempts by code
  std::map<std::string, int64_t> final_errors;    // records that never succeeded, by last code
  std::map<std::string, int64_t> outcomes;
  int64_t created = 0, replayed = 0, review_tasks = 0;
  std::atomic<bool> stop{false};
  const Clock::time_point start = Clock::now();

  auto worker = [&](int index) {
    std::unique_ptr<v1::IdentityService::Stub> stub = NewStub(f, index);
    std::map<std::string, int64_t> my_attempt_errors, my_final_errors, my_outcomes;
    int64_t my_created = 0, my_replayed = 0, my_tasks = 0;
    int64_t request_seq = 0;
    while (!stop.load(std::memory_order_relaxed)) {
      const int64_t first = next.fetch_add(f.batch);
      if (first >= n) break;
      const int64_t end = std::min(n, first + f.batch);
      if (f.max_seconds > 0 &&
          std::chrono::duration<double>(Clock::now() - start).count() > f.max_seconds) {
        stop = true;
        break;
      }
      Clock::time_point t0 = Clock::now();
      grpc::Status status;
      // One result per record of [first, end): its response, or the entry's own error code.
      std::vector<v1::RegisterSourceRecordResponse> resp(end - first);
      std::vector<grpc::StatusCode> entry_code(end - first, grpc::StatusCode::OK);
      for (int attempt = 0; attempt < 6; ++attempt) {
        const std::string request_id =
            "bench-" + std::to_string(index) + "-" + std::to_string(request_seq++);
        grpc::ClientContext call;
        PrepareCall(&call, 60);
        if (f.batch == 1) {
          v1::RegisterSourceRecordRequest& req = requests[first];
          FillContext(req.mutable_context(), request_id);
          resp[0].Clear();
          status = stub->RegisterSourceRecord(&call, req, &resp[0]);
        } else {
          v1::RegisterSourceRecordsRequest batch;
          FillContext(batch.mutable_context(), request_id);
          for (int64_t i = first; i < end; ++i) *batch.add_registrations() = requests[i];
          v1::RegisterSourceRecordsResponse out;
          status = stub->RegisterSourceRecords(&call, batch, &out);
          if (status.ok() && out.results_size() != end - first) {
            status = grpc::Status(grpc::StatusCode::INTERNAL, "wrong number of results");
          }
          for (int k = 0; status.ok() && k < out.results_size(); ++k) {
            entry_code[k] = static_cast<grpc::StatusCode>(out.results(k).code());
            resp[k] = out.results(k).response();
          }
        }
        if (status.ok()) break;
        ++my_attempt_errors[hie::GrpcCodeName(status.error_code())];
        if (!Retryable(status.error_code())) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(20 << attempt));
      }
      Clock::time_point t1 = Clock::now();
      for (int64_t i = first; i < end; ++i) {
        const grpc::StatusCode code = status.ok() ? entry_code[i - first] : status.error_code();
        if (code == grpc::StatusCode::OK) {
          const v1::RegisterSourceRecordResponse& r = resp[i - first];
          latency[i] = Micros(t0, t1);
          ++my_outcomes[v1::MatchOutcome_Name(r.decision().outcome())];
          if (r.created())
            ++my_created;
          else
            ++my_replayed;
          if (!r.decision().review_task_id().empty()) ++my_tasks;
        } else if (++my_final_errors[hie::GrpcCodeName(code)] <= 3) {
          std::lock_guard<std::mutex> lock(mu);
          std::fprintf(stderr, "load: record %" PRId64 " failed: %s: %s\n", i,
                       hie::GrpcCodeName(code).c_str(), status.error_message().c_str());
        }
        int64_t done = completed.fetch_add(1);
        completion_time[done] = std::chrono::duration<double>(t1 - start).count();
        if ((done + 1) % std::max<int64_t>(1, n / 20) == 0) {
          std::fprintf(stderr, "load: %" PRId64 "/%" PRId64 " after %.1f s\n", done + 1, n,
                       completion_time[done]);
        }
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [k, v] : my_attempt_errors) attempt_errors[k] += v;
    for (auto& [k, v] : my_final_errors) final_errors[k] += v;
    for (auto& [k, v] : my_outcomes) outcomes[k] += v;
    created += my_created;
    replayed += my_replayed;
    review_tasks += my_tasks;
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < f.concurrency; ++t) threads.emplace_back(worker, t);
  for (std::thread& t : threads) t.join();
  const int64_t done = completed.load();
  const double elapsed = done > 0 ? completion_time[done - 1] : 0;

  int64_t ok = 0;
  for (auto& [k, v] : outcomes) ok += v;
  const std::string per_call =
      f.batch == 1 ? std::string("one record per call (RegisterSourceRecord)")
                   : absl::StrCat("up to ", f.batch, " records per call (RegisterSourceRecords)");
  std::printf("== load: %" PRId64 " of %" PRId64 " records attempted (offset %" PRId64
              ", seed %" PRIu64 "), %d callers, %s%s\n",
              done, n, f.offset, f.seed, f.concurrency, per_call.c_str(),
              stop ? ", STOPPED at --max-seconds" : "");
  std::printf("registered ok: %" PRId64 " in %.1f s = %.0f registrations/s overall\n", ok,
              elapsed, elapsed > 0 ? ok / elapsed : 0.0);
  std::printf("per 10%% window of completions (registrations/s):");
  for (int w = 0; w < 10; ++w) {
    int64_t a = done * w / 10, b = done * (w + 1) / 10;
    if (b <= a) continue;
    double t_a = a == 0 ? 0.0 : completion_time[a - 1], t_b = completion_time[b - 1];
    std::printf(" %.0f", t_b > t_a ? (b - a) / (t_b - t_a) : 0.0);
  }
  std::printf("\n");
  std::vector<double> ok_latency;
  ok_latency.reserve(ok);
  for (double l : latency) {
    if (l >= 0) ok_latency.push_back(l);
  }
  PrintLatency("register latency (the call's, incl. retries)", Summarise(ok_latency));
  std::printf("outcomes:");
  for (auto& [k, v] : outcomes) {
    std::printf(" %s=%" PRId64 " (%.1f%%)", k.c_str(), v, ok > 0 ? 100.0 * v / ok : 0.0);
  }
  std::printf("\ncreated=%" PRId64 " replayed(idempotent or existing)=%" PRId64
              " responses with a review task=%" PRId64 "\n",
              created, replayed, review_tasks);
  std::printf("failed attempts by code:");
  if (attempt_errors.empty()) std::printf(" none");
  for (auto& [k, v] : attempt_errors) std::printf(" %s=%" PRId64, k.c_str(), v);
  std::printf("\nrecords that failed for good by code:");
  if (final_errors.empty()) std::printf(" none");
  for (auto& [k, v] : final_errors) std::printf(" %s=%" PRId64, k.c_str(), v);
  std::printf("\n");
  std::fflush(stdout);
  return final_errors.empty() ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// query and snapshot

std::vector<int64_t> SampleIndexes(int64_t population, int64_t count, uint64_t seed) {
  std::mt19937_64 rng(seed * 7919 + 17);
  std::uniform_int_distribution<int64_t> pick(0, population - 1);
  std::vector<int64_t> out(count);
  for (int64_t& i : out) i = pick(rng);
  return out;
}

struct QueryWork {
  std::vector<v1::ResolveRequest> resolves;
  std::vector<v1::SearchPersonsRequest> searches;
};

QueryWork BuildQueries(const Flags& f, const std::vector<hie::mpi::Record>& all,
                       const std::vector<int64_t>& picks) {
  QueryWork w;
  for (int64_t i : picks) {
    const hie::mpi::Record& r = all[i];
    v1::ResolveRequest q;
    *q.mutable_source_id() = SourceIdOf(r);
    w.resolves.push_back(std::move(q));
    v1::SearchPersonsRequest s;
    *s.mutable_query() = SearchQueryOf(r);
    s.set_max_results(10);
    w.searches.push_back(std::move(s));
  }
  return w;
}

// Runs `calls` requests of one kind over `callers` threads (each its own channel); returns
// latencies (us) and wall time.
template <typename Req, typename Resp, typename Method>
std::pair<std::vector<double>, double> Drive(const Flags& f, std::vector<Req>& requests,
                                             int callers, Method method,
                                             std::map<std::string, int64_t>* errors,
                                             int64_t* matches_total) {
  std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
  for (int c = 0; c < callers; ++c) stubs.push_back(NewStub(f, 1000 + c));
  // Warm-up: connect and touch the code paths.
  for (int c = 0; c < callers; ++c) {
    for (int k = 0; k < 200 / callers + 1; ++k) {
      Req req = requests[k % requests.size()];
      FillContext(req.mutable_context(), "warmup");
      grpc::ClientContext call;
      PrepareCall(&call, 10);
      Resp resp;
      (void)((*stubs[c]).*method)(&call, req, &resp);
    }
  }
  std::vector<double> lat(requests.size(), 0.0);
  std::atomic<size_t> next{0};
  std::mutex mu;
  Clock::time_point start = Clock::now();
  auto run = [&](int c) {
    std::map<std::string, int64_t> my_errors;
    int64_t my_matches = 0;
    for (size_t i; (i = next.fetch_add(1)) < requests.size();) {
      Req& req = requests[i];
      FillContext(req.mutable_context(), "bench-q-" + std::to_string(i));
      grpc::ClientContext call;
      PrepareCall(&call, 10);
      Resp resp;
      Clock::time_point t0 = Clock::now();
      grpc::Status s = ((*stubs[c]).*method)(&call, req, &resp);
      lat[i] = Micros(t0, Clock::now());
      if (!s.ok()) {
        ++my_errors[hie::GrpcCodeName(s.error_code())];
      } else if constexpr (std::is_same_v<Resp, v1::SearchPersonsResponse>) {
        my_matches += resp.matches_size();
      } else {
        my_matches += resp.cross_references_size();
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [k, v] : my_errors) (*errors)[k] += v;
    *matches_total += my_matches;
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < callers; ++c) threads.emplace_back(run, c);
  for (std::thread& t : threads) t.join();
  return {lat, std::chrono::duration<double>(Clock::now() - start).count()};
}

void PrintErrors(const std::map<std::string, int64_t>& errors) {
  std::printf("  errors:");
  if (errors.empty()) std::printf(" none");
  for (auto& [k, v] : errors) std::printf(" %s=%" PRId64, k.c_str(), v);
  std::printf("\n");
}

int RunQuery(const Flags& f) {
  std::vector<hie::mpi::Record> all = Dataset(f.seed, f.population);
  std::vector<int64_t> picks = SampleIndexes(f.records + f.offset, f.samples, f.seed);
  QueryWork w = BuildQueries(f, all, picks);
  std::printf("== query: %" PRId64 " samples over the %" PRId64 " registered records (seed %" PRIu64
              ")\n",
              f.samples, f.records + f.offset, f.seed);
  int rc = 0;
  for (int callers : {1, f.callers}) {
    {
      std::map<std::string, int64_t> errors;
      int64_t xrefs = 0;
      auto [lat, wall] = Drive<v1::ResolveRequest, v1::ResolveResponse>(
          f, w.resolves, callers, &v1::IdentityService::Stub::Resolve, &errors, &xrefs);
      std::string what = "Resolve, " + std::to_string(callers) + " caller(s)";
      PrintLatency(what.c_str(), Summarise(lat));
      std::printf("  throughput %.0f calls/s; mean cross-references %.2f\n", lat.size() / wall,
                  static_cast<double>(xrefs) / lat.size());
      PrintErrors(errors);
      if (!errors.empty()) rc = 1;
    }
    {
      std::map<std::string, int64_t> errors;
      int64_t matches = 0;
      auto [lat, wall] = Drive<v1::SearchPersonsRequest, v1::SearchPersonsResponse>(
          f, w.searches, callers, &v1::IdentityService::Stub::SearchPersons, &errors, &matches);
      std::string what = "SearchPersons, " + std::to_string(callers) + " caller(s)";
      PrintLatency(what.c_str(), Summarise(lat));
      std::printf("  throughput %.0f calls/s; mean matches returned %.2f\n", lat.size() / wall,
                  static_cast<double>(matches) / lat.size());
      PrintErrors(errors);
      if (!errors.empty()) rc = 1;
    }
    std::fflush(stdout);
    if (f.callers == 1) break;
  }
  return rc;
}

std::string ResolveLine(const v1::ResolveRequest& req, bool ok, const std::string& error,
                        const v1::ResolveResponse& resp) {
  std::string out =
      "resolve " + req.source_id().org() + "/" + req.source_id().local_id() + " -> ";
  if (!ok) return out + "ERROR " + error + "\n";
  std::vector<std::string> xrefs;
  for (const auto& x : resp.cross_references()) {
    xrefs.push_back(x.source_id().org() + "/" + x.source_id().local_id() + ":" +
                    v1::LinkMethod_Name(x.link().method()));
  }
  std::sort(xrefs.begin(), xrefs.end());
  out += resp.person_id();
  for (const std::string& x : xrefs) out += " " + x;
  return out + "\n";
}

std::string SearchLine(size_t i, bool ok, const std::string& error,
                       const v1::SearchPersonsResponse& resp) {
  std::string out = "search " + std::to_string(i) + " -> ";
  if (!ok) return out + "ERROR " + error + "\n";
  // Candidates with equal scores come back in index order, which a rebuild may change: compare
  // them as a set (sorted by score, then person id).
  std::vector<std::pair<std::string, std::string>> items;  // (score, "person=score:grade")
  for (const auto& m : resp.matches()) {
    char score[32];
    std::snprintf(score, sizeof score, "%012.4f", 1000.0 - m.candidate().score());
    char shown[32];
    std::snprintf(shown, sizeof shown, "%.4f", m.candidate().score());
    items.emplace_back(std::string(score) + m.candidate().person_id(),
                       m.candidate().person_id() + "=" + shown + ":" +
                           v1::MatchGrade_Name(m.candidate().grade()));
  }
  std::sort(items.begin(), items.end());
  for (const auto& [key, text] : items) out += text + " ";
  return out + "\n";
}

int RunSnapshot(const Flags& f) {
  std::vector<hie::mpi::Record> all = Dataset(f.seed, f.population);
  std::vector<int64_t> picks = SampleIndexes(f.records + f.offset, f.samples, f.seed + 1);
  QueryWork w = BuildQueries(f, all, picks);
  std::unique_ptr<v1::IdentityService::Stub> stub = NewStub(f, 0);
  std::ofstream out(f.out);
  int64_t failures = 0;
  for (size_t i = 0; i < w.resolves.size(); ++i) {
    {
      v1::ResolveRequest& req = w.resolves[i];
      FillContext(req.mutable_context(), "snapshot-r-" + std::to_string(i));
      grpc::ClientContext call;
      PrepareCall(&call, 10);
      v1::ResolveResponse resp;
      grpc::Status s = stub->Resolve(&call, req, &resp);
      if (!s.ok()) ++failures;
      out << ResolveLine(req, s.ok(), hie::GrpcCodeName(s.error_code()), resp);
    }
    {
      v1::SearchPersonsRequest& req = w.searches[i];
      FillContext(req.mutable_context(), "snapshot-s-" + std::to_string(i));
      grpc::ClientContext call;
      PrepareCall(&call, 10);
      v1::SearchPersonsResponse resp;
      grpc::Status s = stub->SearchPersons(&call, req, &resp);
      if (!s.ok()) ++failures;
      out << SearchLine(i, s.ok(), hie::GrpcCodeName(s.error_code()), resp);
    }
  }
  std::printf("snapshot: %zu resolves and searches written to %s, %" PRId64 " errors\n",
              w.resolves.size(), f.out.c_str(), failures);
  return failures == 0 ? 0 : 1;
}

// rebuild: the start-up index rebuild of hie-identity (main.cc: the same matcher, nickname
// table, PgIdentityStore over a PgPool of 8 connections, IdentityManager::RebuildIndex), run in
// this process with a finite deadline, timed; then, with --compare, the answers of the
// in-process manager for the snapshot sample, compared line by line with a snapshot taken over
// gRPC from the running service before.
int RunRebuild(const Flags& f) {
  absl::StatusOr<hie::mpi::NicknameTable> nicknames =
      hie::mpi::NicknameTable::LoadFile(hie::mpi::DefaultNicknamePath());
  if (!nicknames.ok()) {
    std::cerr << "rebuild: " << nicknames.status() << "\n";
    return 2;
  }
  hie::identity::SystemClock clock;
  hie::identity::MpiMatcher matcher(hie::mpi::Model::DefaultParams(), &*nicknames);
  absl::StatusOr<std::unique_ptr<hie::pg::PgPool>> pool =
      hie::pg::PgPool::Create({.dsn = f.pg_dsn, .size = 8});
  if (!pool.ok()) {
    std::cerr << "rebuild: " << pool.status() << "\n";
    return 2;
  }
  absl::StatusOr<std::unique_ptr<hie::identity::PgIdentityStore>> store =
      hie::identity::PgIdentityStore::Create(pool->get());
  if (!store.ok()) {
    std::cerr << "rebuild: " << store.status() << "\n";
    return 2;
  }
  hie::identity::IdentityManager manager(store->get(), &matcher, &clock);
  Clock::time_point t0 = Clock::now();
  absl::StatusOr<size_t> indexed = manager.RebuildIndex(absl::Now() + absl::Hours(2));
  double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  if (!indexed.ok()) {
    std::cerr << "rebuild: " << indexed.status() << "\n";
    return 1;
  }
  std::printf("in-process IdentityManager::RebuildIndex: %zu records in %.2f s (%.0f records/s)\n",
              *indexed, seconds, *indexed / seconds);
  std::fflush(stdout);
  if (f.compare.empty()) return 0;

  std::vector<hie::mpi::Record> all = Dataset(f.seed, f.population);
  std::vector<int64_t> picks = SampleIndexes(f.records + f.offset, f.samples, f.seed + 1);
  QueryWork w = BuildQueries(f, all, picks);
  std::ifstream before(f.compare);
  std::ofstream after_out;  // with --out: the in-process answers, in the snapshot format
  if (!f.out.empty()) after_out.open(f.out);
  hie::identity::CallContext call;
  call.actor.set_org("hie-operations");
  call.actor.set_user_id("identity-bench");
  call.actor.set_role(common::ROLE_HIE_OPERATOR);
  int64_t same = 0, different = 0;
  std::string expected;
  for (size_t i = 0; i < w.resolves.size(); ++i) {
    call.request_id = "rebuild-compare-" + std::to_string(i);
    call.deadline = absl::Now() + absl::Seconds(10);
    FillContext(w.resolves[i].mutable_context(), call.request_id);
    FillContext(w.searches[i].mutable_context(), call.request_id);
    absl::StatusOr<v1::ResolveResponse> r = manager.Resolve(call, w.resolves[i]);
    absl::StatusOr<v1::SearchPersonsResponse> s = manager.SearchPersons(call, w.searches[i]);
    auto code = [](const absl::Status& st) {
      return hie::GrpcCodeName(static_cast<grpc::StatusCode>(st.code()));
    };
    std::string got[2] = {
        ResolveLine(w.resolves[i], r.ok(), code(r.status()), r.ok() ? *r : v1::ResolveResponse()),
        SearchLine(i, s.ok(), code(s.status()), s.ok() ? *s : v1::SearchPersonsResponse())};
    for (const std::string& line : got) {
      if (after_out.is_open()) after_out << line;
      if (!std::getline(before, expected)) expected = "<missing>";
      if (expected + "\n" == line) {
        ++same;
      } else {
        if (++different <= 5) {
          std::printf("  differs:\n    before: %s\n    after:  %s", expected.c_str(), line.c_str());
        }
      }
    }
  }
  std::printf("answers after the in-process rebuild vs the service's before: %" PRId64
              " lines same, %" PRId64 " different\n",
              same, different);
  return different == 0 ? 0 : 1;
}

// ---------------------------------------------------------------------------------------------
// hl7: ADT^A04 over MLLP (mutual TLS, member certificates)

// HL7 v2 escaping of a field value (the default delimiters |^~\&).
std::string Hl7Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    switch (c) {
      case '|': out += "\\F\\"; break;
      case '^': out += "\\S\\"; break;
      case '~': out += "\\R\\"; break;
      case '\\': out += "\\E\\"; break;
      case '&': out += "\\T\\"; break;
      case '\r': case '\n': out += ' '; break;
      default: out += c;
    }
  }
  return out;
}

std::string AdtA04(const hie::mpi::Record& r, const std::string& control_id) {
  common::Demographics d = ToDemographics(r);  // birth date normalised as for gRPC
  std::string birth;
  for (char c : d.birth_date()) {
    if (c != '-') birth += c;
  }
  const char* sex = d.sex() == common::SEX_FEMALE ? "F" : d.sex() == common::SEX_MALE ? "M" : "";
  std::string msg;
  msg += "MSH|^~\\&|BENCH|" + Hl7Escape(r.org) + "|HIE|HUB|20261122030000||ADT^A04^ADT_A01|" +
         control_id + "|P|2.5.1\r";
  msg += "EVN|A04|20261122030000\r";
  msg += "PID|1||" + Hl7Escape(r.local_id) + "^^^" + Hl7Escape(r.org) + "^MR||" +
         Hl7Escape(r.family_name) + "^" + Hl7Escape(r.given_name) + "^" +
         Hl7Escape(r.middle_name) + "||" + birth + "|" + sex + "|||" +
         Hl7Escape(r.address_line) + "^^" + Hl7Escape(r.city) + "^" + Hl7Escape(r.state) + "^" +
         Hl7Escape(r.postal_code) + "||" + Hl7Escape(r.phone) + "^^^" + Hl7Escape(r.email) +
         "|||||" + Hl7Escape(r.ssn) + "\r";
  return msg;
}

// MSA-1 of an ACK ("AA", "AE", "AR"), or "?" when there is none.
std::string AckCode(const std::string& ack) {
  size_t msa = ack.find("MSA|");
  if (msa == std::string::npos) return "?";
  size_t end = ack.find_first_of("|\r", msa + 4);
  return ack.substr(msa + 4, end == std::string::npos ? std::string::npos : end - msa - 4);
}

int RunHl7(const Flags& f) {
  std::vector<hie::mpi::Record> all = Dataset(f.seed, f.population);
  std::vector<std::string> orgs;
  for (size_t start = 0; start <= f.hl7_orgs.size();) {
    size_t comma = f.hl7_orgs.find(',', start);
    if (comma == std::string::npos) comma = f.hl7_orgs.size();
    if (comma > start) orgs.push_back(f.hl7_orgs.substr(start, comma - start));
    start = comma + 1;
  }
  // One queue of messages per org (only orgs we hold a member certificate of).
  std::map<std::string, std::vector<std::string>> by_org;
  for (const std::string& org : orgs) by_org[org];
  int64_t skipped = 0;
  for (int64_t i = f.offset; i < f.offset + f.records; ++i) {
    auto it = by_org.find(all[i].org);
    if (it == by_org.end()) {
      ++skipped;
      continue;
    }
    it->second.push_back(AdtA04(all[i], "B" + std::to_string(f.seed) + "-" + std::to_string(i)));
  }
  all.clear();
  const int connections = f.concurrency;
  size_t colon = f.hl7_target.rfind(':');
  const std::string host = f.hl7_target.substr(0, colon);
  const int port = std::atoi(f.hl7_target.c_str() + colon + 1);
  int64_t total = 0;
  for (auto& [org, v] : by_org) total += v.size();
  std::printf("== hl7: %" PRId64 " ADT^A04 messages (records %" PRId64 "..%" PRId64
              " of orgs %s; %" PRId64 " records of other orgs skipped), %d connections\n",
              total, f.offset, f.offset + f.records - 1, f.hl7_orgs.c_str(), skipped, connections);
  // Connection c sends for org c % orgs, taking that org's messages in order.
  std::map<std::string, std::atomic<size_t>> next;
  for (auto& [org, v] : by_org) next[org] = 0;
  std::mutex mu;
  std::map<std::string, int64_t> acks;
  std::vector<double> latency;
  std::atomic<int64_t> completed{0};
  Clock::time_point start = Clock::now();
  auto run = [&](int c) {
    const std::string& org = orgs[c % orgs.size()];
    absl::StatusOr<std::unique_ptr<hie::hl7::MllpClient>> client = hie::hl7::MllpClient::Connect(
        host, port,
        {f.cert_dir + "/ca.pem", f.cert_dir + "/" + org + ".pem", f.cert_dir + "/" + org + ".key"});
    if (!client.ok()) {
      std::lock_guard<std::mutex> lock(mu);
      std::fprintf(stderr, "hl7: connect failed: %s\n", std::string(client.status().message()).c_str());
      ++acks["connect_failed"];
      return;
    }
    std::map<std::string, int64_t> my_acks;
    std::vector<double> my_latency;
    std::vector<std::string>& queue = by_org[org];
    for (size_t i; (i = next[org].fetch_add(1)) < queue.size();) {
      Clock::time_point t0 = Clock::now();
      absl::StatusOr<std::string> ack = (*client)->Call(queue[i], absl::Seconds(30));
      my_latency.push_back(Micros(t0, Clock::now()));
      completed.fetch_add(1);
      if (!ack.ok()) {
        ++my_acks["no_ack:" + std::string(absl::StatusCodeToString(ack.status().code()))];
        break;  // the connection is gone
      }
      ++my_acks[AckCode(*ack)];
    }
    std::lock_guard<std::mutex> lock(mu);
    for (auto& [k, v] : my_acks) acks[k] += v;
    latency.insert(latency.end(), my_latency.begin(), my_latency.end());
  };
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) threads.emplace_back(run, c);
  for (std::thread& t : threads) t.join();
  double wall = std::chrono::duration<double>(Clock::now() - start).count();
  int64_t aa = acks.count("AA") ? acks["AA"] : 0;
  std::printf("acknowledged AA: %" PRId64 " of %" PRId64 " sent in %.1f s = %.0f messages/s\n", aa,
              completed.load(), wall, wall > 0 ? aa / wall : 0.0);
  PrintLatency("MLLP round trip (send to ACK)", Summarise(latency));
  std::printf("acks:");
  for (auto& [k, v] : acks) std::printf(" %s=%" PRId64, k.c_str(), v);
  std::printf("\n");
  std::fflush(stdout);
  return aa == total ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  Flags f = ParseFlags(argc, argv);
  if (f.mode == "load") return RunLoad(f);
  if (f.mode == "query") return RunQuery(f);
  if (f.mode == "hl7") return RunHl7(f);
  if (f.mode == "rebuild") return RunRebuild(f);
  return RunSnapshot(f);
}
