// PostgreSQL crashes (pg_ctl stop -m immediate, fsync on) under load and comes back ~2 s later
// on the same port and data, while an MLLP sender feeds ADT A04 messages, a gRPC client
// registers records with idempotency keys and a prober polls the health service. The promises:
//   - during the outage gRPC callers get UNAVAILABLE (DEADLINE_EXCEEDED or UNKNOWN only for
//     calls in flight at the crash), never INTERNAL, INVALID_ARGUMENT or anything else;
//   - MLLP messages get no ACK (the connection is closed), never AE or AR;
//   - health says NOT_SERVING while PostgreSQL is down, SERVING again after;
//   - after recovery every call retried with its idempotency key succeeds and answers as its
//     first answer did (same version, same person), every message resent with its MSH-10 gets
//     AA, and every record exists exactly once.

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "services/identity/hl7/ack.h"
#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {
namespace {

namespace v1 = ::hie::identity::v1;
using Health = grpc::health::v1::HealthCheckResponse;

struct Call {
  v1::RegisterSourceRecordRequest request;
  absl::Time start, end;
  grpc::Status status;
  v1::RegisterSourceRecordResponse response;
};

struct Message {
  std::string control_id;
  std::string mrn;
  Patient patient;
  std::string bytes;
  absl::Time start, end;
  // "AA", "AE", "AR"... or "closed" (no ACK, the connection was closed) or "timeout" (no ACK
  // and the connection still open after 20 s).
  std::string outcome;
};

struct HealthSample {
  absl::Time time;
  std::optional<Health::ServingStatus> status;  // nullopt: the check itself failed
};

std::string Describe(const std::optional<Health::ServingStatus>& status) {
  if (!status.has_value()) return "no answer";
  return Health::ServingStatus_Name(*status);
}

class PgRestartTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartPostgres(/*fast=*/false);  // fsync on: a crash must not lose a commit
  }
};

TEST_F(PgRestartTest, PostgresCrashAndRestartUnderLoad) {
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);

  std::atomic<bool> stop{false};
  std::mutex mu;  // guards the three logs below
  std::vector<Call> calls;
  std::vector<Message> messages;
  std::vector<HealthSample> health;

  std::thread grpc_client([&] {
    auto stub = identity->Stub("operator");
    for (int i = 0; !stop; ++i) {
      Call call;
      call.request = WithContext(v1::RegisterSourceRecordRequest());
      *call.request.mutable_source_id() = Sid("clinic-b", absl::StrCat("P", i));
      *call.request.mutable_demographics() = DemographicsOf(MadeUpPatient(20000 + i));
      call.request.set_idempotency_key(absl::StrCat("pg-restart-", i));
      call.start = absl::Now();
      call.status = stub->RegisterSourceRecord(Deadline(absl::Seconds(5)).get(), call.request,
                                               &call.response);
      call.end = absl::Now();
      const bool ok = call.status.ok();
      {
        std::lock_guard lock(mu);
        calls.push_back(std::move(call));
      }
      if (!ok) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::thread mllp_sender([&] {
    std::unique_ptr<hl7::MllpClient> client;
    for (int i = 0; !stop;) {
      if (client == nullptr) {
        auto connected = identity->ConnectMllp("clinic-a");
        if (!connected.ok()) {
          std::this_thread::sleep_for(std::chrono::milliseconds(100));
          continue;
        }
        client = *std::move(connected);
      }
      Message m;
      m.control_id = absl::StrCat("PGR-", i);
      m.mrn = absl::StrCat("M", i);
      m.patient = MadeUpPatient(40000 + i);
      m.bytes = AdtMessage("A04", m.control_id, {PidSegment(m.mrn, m.patient)});
      m.start = absl::Now();
      absl::Status sent = client->Send(m.bytes);
      absl::StatusOr<std::string> ack =
          sent.ok() ? client->ReadAck(absl::Seconds(20)) : absl::StatusOr<std::string>(sent);
      m.end = absl::Now();
      if (ack.ok()) {
        m.outcome = hl7::AckCodeOf(*ack);
      } else if (ack.status().code() == absl::StatusCode::kDeadlineExceeded) {
        m.outcome = "timeout";
      } else {
        m.outcome = "closed";
      }
      if (!ack.ok()) client.reset();
      const bool acked = m.outcome == "AA";
      {
        std::lock_guard lock(mu);
        messages.push_back(std::move(m));
      }
      ++i;
      if (!acked) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::thread prober([&] {
    while (!stop) {
      HealthSample sample{absl::Now(), identity->Health(absl::Seconds(1))};
      {
        std::lock_guard lock(mu);
        health.push_back(sample);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  auto count = [&](auto predicate) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const Call& c : calls) n += predicate(c);
    return n;
  };
  auto count_messages = [&](auto predicate) {
    std::lock_guard lock(mu);
    int n = 0;
    for (const Message& m : messages) n += predicate(m);
    return n;
  };

  // Load first.
  absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline &&
         (count([](const Call& c) { return c.status.ok(); }) < 20 ||
          count_messages([](const Message& m) { return m.outcome == "AA"; }) < 20)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }

  // The crash, ~2 s of outage, the restart.
  const absl::Time crash_begin = absl::Now();
  absl::Status crashed = pg_->Crash();
  const absl::Time crash_end = absl::Now();
  std::this_thread::sleep_for(std::chrono::seconds(2));
  const absl::Time restart_begin = absl::Now();
  absl::Status restarted = pg_->Start();
  const absl::Time restart_end = absl::Now();

  // Load goes on until the service has been SERVING and accepting writes again for a moment.
  deadline = absl::Now() + absl::Seconds(30);
  auto recovered = [&] {
    std::lock_guard lock(mu);
    bool call_ok = false, message_ok = false, serving = false;
    for (const Call& c : calls) call_ok |= c.start > restart_end && c.status.ok();
    for (const Message& m : messages) message_ok |= m.start > restart_end && m.outcome == "AA";
    for (const HealthSample& h : health) {
      serving |= h.time > restart_end && h.status == Health::SERVING;
    }
    return call_ok && message_ok && serving;
  };
  while (absl::Now() < deadline && !recovered()) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  stop = true;
  grpc_client.join();
  mllp_sender.join();
  prober.join();
  ASSERT_TRUE(crashed.ok()) << crashed;
  ASSERT_TRUE(restarted.ok()) << restarted;
  {
    std::map<std::string, int> codes, outcomes, statuses;
    for (const Call& c : calls) ++codes[CodeName(c.status.error_code())];
    for (const Message& m : messages) ++outcomes[m.outcome];
    for (const HealthSample& h : health) {
      if (h.time >= crash_end && h.time < restart_end) ++statuses[Describe(h.status)];
    }
    auto show = [](const std::map<std::string, int>& counts) {
      std::string out;
      for (const auto& [name, n] : counts) absl::StrAppend(&out, name, " ", n, ", ");
      return out;
    };
    std::cerr << "e2e: crash took " << absl::FormatDuration(crash_end - crash_begin) << ", restart "
              << absl::FormatDuration(restart_end - restart_begin)
              << "; gRPC calls: " << show(codes) << "MLLP messages: " << show(outcomes)
              << "health while PostgreSQL was down: " << show(statuses) << "\n";
  }

  // --- What callers saw.
  int unavailable_in_outage = 0;
  for (const Call& c : calls) {
    if (c.status.ok()) continue;
    const grpc::StatusCode code = c.status.error_code();
    const bool in_flight_at_crash = c.start < crash_end && c.end > crash_begin;
    if (c.start >= crash_end && c.start < restart_end && code == grpc::StatusCode::UNAVAILABLE) {
      ++unavailable_in_outage;
    }
    if (in_flight_at_crash) {
      EXPECT_TRUE(code == grpc::StatusCode::UNAVAILABLE ||
                  code == grpc::StatusCode::DEADLINE_EXCEEDED || code == grpc::StatusCode::UNKNOWN)
          << c.request.idempotency_key() << " (in flight at the crash) failed with "
          << CodeName(code) << ": " << c.status.error_message();
    } else {
      EXPECT_EQ(code, grpc::StatusCode::UNAVAILABLE)
          << c.request.idempotency_key() << " started " << absl::FormatDuration(c.start - crash_end)
          << " after the crash, failed with " << CodeName(code) << ": " << c.status.error_message();
    }
  }
  EXPECT_GT(unavailable_in_outage, 0)
      << "no gRPC call started while PostgreSQL was down was answered UNAVAILABLE";

  int closed_in_outage = 0;
  for (const Message& m : messages) {
    EXPECT_TRUE(m.outcome == "AA" || m.outcome == "closed")
        << m.control_id << " sent " << absl::FormatDuration(m.start - crash_end)
        << " after the crash was answered '" << m.outcome
        << "' (a transient failure must close the connection without an ACK)";
    closed_in_outage += m.start >= crash_end && m.start < restart_end && m.outcome == "closed";
  }
  EXPECT_GT(closed_in_outage, 0)
      << "no MLLP message sent during the outage had its connection closed without an ACK";

  // --- What health said. (A check that got no answer is not a claim either way.) PostgreSQL is
  // down from the crash until pg_ctl reports it accepting connections after crash recovery.
  bool serving_before = false, not_serving_in_outage = false, serving_after = false;
  std::string outage_statuses;
  for (const HealthSample& h : health) {
    if (h.time < crash_begin) {
      serving_before |= h.status == Health::SERVING;
      EXPECT_TRUE(h.status == Health::SERVING || !h.status.has_value())
          << "before the crash: " << Describe(h.status);
    } else if (h.time >= crash_end && h.time < restart_end) {
      not_serving_in_outage |= h.status == Health::NOT_SERVING;
      absl::StrAppend(&outage_statuses, Describe(h.status), " ");
    } else if (h.time > restart_end) {
      serving_after |= h.status == Health::SERVING;
    }
  }
  EXPECT_TRUE(serving_before) << "health never said SERVING before the crash";
  EXPECT_TRUE(not_serving_in_outage)
      << "health never said NOT_SERVING while PostgreSQL was down; it said: " << outage_statuses;
  EXPECT_TRUE(serving_after) << "health did not say SERVING again after PostgreSQL came back";

  // --- Retries after recovery.
  absl::Status serving = identity->WaitServing(absl::Seconds(30));
  ASSERT_TRUE(serving.ok()) << serving;
  auto stub = identity->Stub("operator");
  // A client retries UNAVAILABLE with backoff; whatever else comes is the answer.
  auto retry = [&](const v1::RegisterSourceRecordRequest& original,
                   v1::RegisterSourceRecordResponse* response) {
    v1::RegisterSourceRecordRequest request = original;
    grpc::Status status;
    for (int attempt = 0; attempt < 10; ++attempt) {
      request.mutable_context()->set_request_id(NewRequestId());
      *response = v1::RegisterSourceRecordResponse();
      status = stub->RegisterSourceRecord(Deadline(absl::Seconds(10)).get(), request, response);
      if (status.error_code() != grpc::StatusCode::UNAVAILABLE) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    return status;
  };
  std::map<std::string, std::string> person_of;  // source id -> person, from the answers
  for (const Call& c : calls) {
    const std::string key = c.request.idempotency_key();
    v1::RegisterSourceRecordResponse again;
    grpc::Status status = retry(c.request, &again);
    ASSERT_TRUE(status.ok()) << key << " (first " << CodeName(c.status.error_code())
                             << ") retried after recovery: " << CodeName(status.error_code()) << " "
                             << status.error_message();
    EXPECT_EQ(again.record().version(), 1) << key;
    if (c.status.ok()) {
      EXPECT_EQ(again.person_id(), c.response.person_id()) << key << ": not the first answer";
      EXPECT_EQ(again.record().version(), c.response.record().version()) << key;
      EXPECT_EQ(again.created(), c.response.created()) << key;
    } else {
      // The first answer was lost (the commit may or may not have happened): a second retry
      // must give the answer the first retry gave.
      v1::RegisterSourceRecordResponse third;
      ASSERT_TRUE(retry(c.request, &third).ok()) << key;
      EXPECT_EQ(third.person_id(), again.person_id()) << key;
      EXPECT_EQ(third.record().version(), again.record().version()) << key;
      EXPECT_EQ(third.created(), again.created()) << key;
    }
    person_of[SidString(c.request.source_id())] = again.person_id();
  }
  {
    auto client = identity->ConnectMllp("clinic-a");
    ASSERT_TRUE(client.ok()) << client.status();
    for (const Message& m : messages) {
      absl::StatusOr<std::string> ack = (*client)->Call(m.bytes, absl::Seconds(20));
      ASSERT_TRUE(ack.ok()) << m.control_id << " resent after recovery: " << ack.status();
      EXPECT_EQ(hl7::AckCodeOf(*ack), "AA")
          << m.control_id << " (first '" << m.outcome << "') resent after recovery: " << *ack;
    }
  }

  // --- Exactly one record per source id.
  struct Want {
    hie::common::v1::SourceId id;
    std::string person;
  };
  std::vector<Want> wants;
  for (const Call& c : calls) {
    wants.push_back({c.request.source_id(), person_of[SidString(c.request.source_id())]});
  }
  for (const Message& m : messages) wants.push_back({Sid("clinic-a", m.mrn), ""});
  std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
  for (int t = 0; t < 2; ++t) stubs.push_back(identity->Stub("operator"));
  ParallelFor(static_cast<int>(wants.size()), 2, [&](int i, int thread) {
    v1::IdentityService::Stub& s = *stubs[thread];
    const Want& want = wants[i];
    const std::string where = SidString(want.id);
    v1::GetSourceRecordRequest get = WithContext(v1::GetSourceRecordRequest());
    *get.mutable_source_id() = want.id;
    get.set_version(2);
    v1::SourceRecord record;
    EXPECT_EQ(s.GetSourceRecord(Deadline().get(), get, &record).error_code(),
              grpc::StatusCode::NOT_FOUND)
        << where << " has a second version";
    v1::GetHistoryRequest history = WithContext(v1::GetHistoryRequest());
    *history.mutable_source_id() = want.id;
    history.add_types(v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
    v1::GetHistoryResponse events;
    grpc::Status status = s.GetHistory(Deadline().get(), history, &events);
    ASSERT_TRUE(status.ok()) << where << ": " << CodeName(status.error_code());
    EXPECT_EQ(events.events_size(), 1) << where << ": RECORD_CREATED events";
    v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
    *resolve.mutable_source_id() = want.id;
    v1::ResolveResponse resolved;
    status = s.Resolve(Deadline().get(), resolve, &resolved);
    ASSERT_TRUE(status.ok()) << where << ": " << CodeName(status.error_code());
    if (!want.person.empty()) {
      EXPECT_EQ(resolved.person_id(), want.person) << where;
    }
    std::multiset<std::string> refs;
    for (const auto& ref : resolved.cross_references()) refs.insert(SidString(ref.source_id()));
    EXPECT_EQ(refs.count(where), 1u) << where;
    for (const std::string& ref : refs) EXPECT_EQ(refs.count(ref), 1u) << where << ": " << ref;
  });
}

}  // namespace
}  // namespace hie::e2e
