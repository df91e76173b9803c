// hie-identity killed with SIGKILL, and restarted as a supervisor would, with the same flags:
//
// 1. Under load (an MLLP sender of ADT A04 messages and a gRPC client registering batches of 50
//    with idempotency keys, concurrently): nothing that was acknowledged is lost (an AA or an OK
//    promises durability), and resending what was not acknowledged (same MSH-10, same keys)
//    creates nothing twice: every record has one version and one RECORD_CREATED event, every
//    Resolve lists each record once, and resends get the answers of the first sends.
// 2. HL7 stored before the ACK: SIGKILL right after reading an AA for an A04, an A08 update and
//    an A40 merge; after the restart each is there (the update is the current version, the
//    merged record is SUPERSEDED by the survivor).

#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "services/identity/hl7/ack.h"
#include "tests/e2e/e2e_harness.h"

namespace hie::e2e {
namespace {

namespace v1 = ::hie::identity::v1;

class IdentityCrashTest : public E2eTest {
 protected:
  void SetUp() override {
    E2eTest::SetUp();
    if (IsSkipped() || HasFatalFailure()) return;
    StartPostgres();
  }
};

// One ADT message of the MLLP sender.
struct Sent {
  std::string control_id;
  std::string mrn;
  Patient patient;
  std::string message;
  std::string first_ack;  // MSA-1 of the first send, "" when no ACK came
  std::string resend_ack;
};

// One RegisterSourceRecords call of the gRPC client.
struct Batch {
  v1::RegisterSourceRecordsRequest request;
  grpc::Status first_status;
  v1::RegisterSourceRecordsResponse first_response;
  bool sent = false;
};

constexpr int kBatchSize = 50;

Batch MakeBatch(int b) {
  Batch batch;
  batch.request = WithContext(v1::RegisterSourceRecordsRequest());
  for (int e = 0; e < kBatchSize; ++e) {
    v1::RegisterSourceRecordRequest* entry = batch.request.add_registrations();
    entry->mutable_context()->set_purpose_of_use(hie::common::v1::PURPOSE_OF_USE_OPERATIONS);
    *entry->mutable_source_id() = Sid("clinic-b", absl::StrCat("G", b, "-", e));
    *entry->mutable_demographics() = DemographicsOf(MadeUpPatient(100000 + b * kBatchSize + e));
    entry->set_idempotency_key(absl::StrCat("kill9-batch-", b, "-entry-", e));
  }
  return batch;
}

// Checks that the record exists once: version 1 only, one RECORD_CREATED and no RECORD_UPDATED
// in its history, and its Resolve lists it exactly once and no record twice. Returns its
// person (or "" after a failure).
std::string ExpectStoredOnce(v1::IdentityService::Stub& stub, const hie::common::v1::SourceId& id,
                             const std::string& family) {
  const std::string where = SidString(id);
  v1::GetSourceRecordRequest get = WithContext(v1::GetSourceRecordRequest());
  *get.mutable_source_id() = id;
  v1::SourceRecord record;
  grpc::Status status = stub.GetSourceRecord(Deadline().get(), get, &record);
  if (!status.ok()) {
    ADD_FAILURE() << where << ": GetSourceRecord " << CodeName(status.error_code()) << " "
                  << status.error_message();
    return "";
  }
  EXPECT_EQ(record.version(), 1) << where << ": a resend made a second version";
  EXPECT_EQ(record.demographics().name().family(), family) << where;
  get.set_version(2);
  v1::SourceRecord second;
  EXPECT_EQ(stub.GetSourceRecord(Deadline().get(), get, &second).error_code(),
            grpc::StatusCode::NOT_FOUND)
      << where << ": version 2 exists";

  v1::GetHistoryRequest history = WithContext(v1::GetHistoryRequest());
  *history.mutable_source_id() = id;
  history.add_types(v1::IDENTITY_EVENT_TYPE_RECORD_CREATED);
  history.add_types(v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED);
  history.set_page_size(1000);
  v1::GetHistoryResponse events;
  status = stub.GetHistory(Deadline().get(), history, &events);
  EXPECT_TRUE(status.ok()) << where << ": GetHistory " << status.error_message();
  int created = 0, updated = 0;
  for (const v1::IdentityEvent& e : events.events()) {
    created += e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_CREATED;
    updated += e.type() == v1::IDENTITY_EVENT_TYPE_RECORD_UPDATED;
  }
  EXPECT_EQ(created, 1) << where << ": RECORD_CREATED events";
  EXPECT_EQ(updated, 0) << where << ": RECORD_UPDATED events";

  v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
  *resolve.mutable_source_id() = id;
  resolve.set_include_inactive(true);
  v1::ResolveResponse resolved;
  status = stub.Resolve(Deadline().get(), resolve, &resolved);
  if (!status.ok()) {
    ADD_FAILURE() << where << ": Resolve " << CodeName(status.error_code());
    return "";
  }
  EXPECT_FALSE(resolved.person_id().empty()) << where;
  EXPECT_EQ(resolved.person_id(), record.person_id()) << where;
  std::multiset<std::string> refs;
  for (const v1::CrossReference& ref : resolved.cross_references()) {
    refs.insert(SidString(ref.source_id()));
  }
  EXPECT_EQ(refs.count(where), 1u) << where << ": the record's own cross references";
  for (const std::string& ref : refs) {
    EXPECT_EQ(refs.count(ref), 1u) << where << ": " << ref << " is listed twice";
  }
  return resolved.person_id();
}

TEST_F(IdentityCrashTest, Kill9UnderLoadLosesNothingAcknowledgedAndStoresNothingTwice) {
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);

  // --- Load, then SIGKILL in the middle of it.
  constexpr int kMaxMessages = 5000;
  constexpr int kMaxBatches = 400;
  std::vector<Sent> sent;
  sent.reserve(kMaxMessages);
  std::vector<Batch> batches;
  batches.reserve(kMaxBatches);
  std::atomic<int> acked{0}, ok_batches{0};
  std::atomic<bool> give_up{false};
  std::atomic<bool> mllp_failed{false};
  std::string mllp_error;  // written before mllp_failed is set

  std::thread mllp_sender([&] {
    auto client = identity->ConnectMllp("clinic-a");
    if (!client.ok()) {
      mllp_error = client.status().ToString();
      mllp_failed = true;
      return;
    }
    for (int i = 0; i < kMaxMessages && !give_up; ++i) {
      Sent s;
      s.control_id = absl::StrCat("K9-", i);
      s.mrn = absl::StrCat("H", i);
      s.patient = MadeUpPatient(i);
      s.message = AdtMessage("A04", s.control_id, {PidSegment(s.mrn, s.patient)});
      absl::StatusOr<std::string> ack = (*client)->Call(s.message, absl::Seconds(20));
      s.first_ack = ack.ok() ? hl7::AckCodeOf(*ack) : "";
      sent.push_back(s);
      if (!ack.ok()) break;  // the service is gone: the rest waits for the restart
      if (s.first_ack == "AA") ++acked;
    }
  });
  std::thread grpc_sender([&] {
    auto stub = identity->Stub("operator");
    for (int b = 0; b < kMaxBatches && !give_up; ++b) {
      Batch batch = MakeBatch(b);
      batch.first_status = stub->RegisterSourceRecords(Deadline(absl::Seconds(20)).get(),
                                                       batch.request, &batch.first_response);
      batch.sent = true;
      const bool ok = batch.first_status.ok();
      batches.push_back(std::move(batch));
      if (!ok) break;
      ++ok_batches;
    }
  });

  const absl::Time load_deadline = absl::Now() + absl::Seconds(60);
  while ((acked < 100 || ok_batches < 6) && absl::Now() < load_deadline && !mllp_failed) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  const bool loaded = acked >= 100 && ok_batches >= 6;
  if (loaded) {
    identity->Kill9();
  } else {
    give_up = true;
  }
  mllp_sender.join();
  grpc_sender.join();
  ASSERT_TRUE(mllp_error.empty()) << mllp_error;
  ASSERT_TRUE(loaded) << "load did not build up within 60 s: " << acked << " AA, " << ok_batches
                      << " OK batches";
  ASSERT_FALSE(sent.empty());
  ASSERT_FALSE(batches.empty());
  EXPECT_TRUE(sent.back().first_ack.empty()) << "the sender stops at the kill";
  EXPECT_FALSE(batches.back().first_status.ok()) << "the client stops at the kill";
  for (const Sent& s : sent) {
    EXPECT_TRUE(s.first_ack == "AA" || s.first_ack.empty())
        << s.control_id << ": a valid A04 answered " << s.first_ack;
  }
  for (const Batch& batch : batches) {
    if (!batch.first_status.ok()) continue;
    for (int e = 0; e < batch.first_response.results_size(); ++e) {
      EXPECT_EQ(batch.first_response.results(e).code(), 0)
          << batch.request.registrations(e).idempotency_key() << ": "
          << batch.first_response.results(e).message();
    }
  }
  std::cerr << "e2e: killed after " << acked << " AA of " << sent.size() << " messages and "
            << ok_batches << " OK of " << batches.size() << " batches\n";

  // --- Restart with the same flags; no manual step.
  const absl::Time restart = absl::Now();
  absl::Status restarted = identity->Start();
  ASSERT_TRUE(restarted.ok()) << restarted;
  std::cerr << "e2e: SERVING again " << absl::FormatDuration(absl::Now() - restart)
            << " after the restart\n";
  auto stub = identity->Stub("operator");

  // Everything acknowledged before the kill is there, before anything is resent.
  for (const Sent& s : sent) {
    if (s.first_ack != "AA") continue;
    v1::GetSourceRecordRequest get = WithContext(v1::GetSourceRecordRequest());
    *get.mutable_source_id() = Sid("clinic-a", s.mrn);
    v1::SourceRecord record;
    grpc::Status status = stub->GetSourceRecord(Deadline().get(), get, &record);
    EXPECT_TRUE(status.ok()) << s.control_id << " was acknowledged AA but " << s.mrn
                             << " is missing after the kill: " << CodeName(status.error_code());
  }
  for (const Batch& batch : batches) {
    if (!batch.first_status.ok()) continue;
    for (const auto& entry : batch.request.registrations()) {
      v1::GetSourceRecordRequest get = WithContext(v1::GetSourceRecordRequest());
      *get.mutable_source_id() = entry.source_id();
      v1::SourceRecord record;
      grpc::Status status = stub->GetSourceRecord(Deadline().get(), get, &record);
      EXPECT_TRUE(status.ok()) << entry.idempotency_key() << " returned OK but "
                               << SidString(entry.source_id()) << " is missing after the kill";
    }
  }

  // --- Resend what was not acknowledged, and a few acknowledged ones (same MSH-10, same keys).
  {
    auto client = identity->ConnectMllp("clinic-a");
    ASSERT_TRUE(client.ok()) << client.status();
    int acked_resends = 0;
    for (int i = static_cast<int>(sent.size()) - 1; i >= 0; --i) {
      Sent& s = sent[i];
      if (s.first_ack == "AA" && acked_resends++ >= 5) continue;
      absl::StatusOr<std::string> ack = (*client)->Call(s.message, absl::Seconds(20));
      ASSERT_TRUE(ack.ok()) << s.control_id << ": " << ack.status();
      s.resend_ack = hl7::AckCodeOf(*ack);
      EXPECT_EQ(s.resend_ack, "AA") << s.control_id << " (first answer '" << s.first_ack
                                    << "') resent after the restart: " << *ack;
    }
  }
  for (size_t b = 0; b < batches.size(); ++b) {
    Batch& batch = batches[b];
    const bool first_ok = batch.first_status.ok();
    if (first_ok && b + 3 < batches.size()) continue;  // resend the last two OK ones as well
    v1::RegisterSourceRecordsRequest again = batch.request;
    again.mutable_context()->set_request_id(NewRequestId());  // a client retry
    v1::RegisterSourceRecordsResponse response;
    grpc::Status status =
        stub->RegisterSourceRecords(Deadline(absl::Seconds(20)).get(), again, &response);
    ASSERT_TRUE(status.ok()) << "batch " << b << " resent: " << CodeName(status.error_code()) << " "
                             << status.error_message();
    ASSERT_EQ(response.results_size(), kBatchSize);
    for (int e = 0; e < kBatchSize; ++e) {
      const auto& result = response.results(e);
      EXPECT_EQ(result.code(), 0) << "batch " << b << " entry " << e << ": " << result.message();
      EXPECT_EQ(result.response().record().version(), 1) << "batch " << b << " entry " << e;
      if (first_ok) {
        const auto& first = batch.first_response.results(e).response();
        EXPECT_EQ(result.response().person_id(), first.person_id())
            << "batch " << b << " entry " << e << ": the retry's answer differs from the first";
        EXPECT_EQ(result.response().created(), first.created()) << "batch " << b << " entry " << e;
      }
    }
    if (!first_ok) {
      batch.first_response = response;  // the answer the other checks compare with
      batch.first_status = grpc::Status::OK;
    }
  }

  // --- Every record once.
  struct Expected {
    hie::common::v1::SourceId id;
    std::string family;
    std::string person;  // from a gRPC answer, when there is one
  };
  std::vector<Expected> expected;
  for (const Sent& s : sent) {
    expected.push_back({Sid("clinic-a", s.mrn), s.patient.family, ""});
  }
  for (const Batch& batch : batches) {
    for (int e = 0; e < batch.request.registrations_size(); ++e) {
      const auto& entry = batch.request.registrations(e);
      expected.push_back({entry.source_id(), entry.demographics().name().family(),
                          batch.first_response.results(e).response().person_id()});
    }
  }
  const absl::Time check_start = absl::Now();
  std::vector<std::unique_ptr<v1::IdentityService::Stub>> stubs;
  for (int t = 0; t < 2; ++t) stubs.push_back(identity->Stub("operator"));
  ParallelFor(static_cast<int>(expected.size()), 2, [&](int i, int thread) {
    const Expected& want = expected[i];
    std::string person = ExpectStoredOnce(*stubs[thread], want.id, want.family);
    if (!want.person.empty() && !person.empty()) {
      EXPECT_EQ(person, want.person) << SidString(want.id) << ": Resolve differs from the answer";
    }
  });
  std::cerr << "e2e: checked " << expected.size() << " records in "
            << absl::FormatDuration(absl::Now() - check_start) << "\n";
}

TEST_F(IdentityCrashTest, Hl7AcknowledgedIsStoredEvenWhenKilledRightAfterTheAck) {
  IdentityProcess* identity = StartIdentity("identity");
  ASSERT_NE(identity, nullptr);

  // Sends one message on a new connection, and SIGKILLs the service as soon as the ACK is read.
  auto send_then_kill = [&](const std::string& message, bool kill) -> std::string {
    auto client = identity->ConnectMllp("clinic-a");
    if (!client.ok()) {
      ADD_FAILURE() << client.status();
      return "";
    }
    absl::StatusOr<std::string> ack = (*client)->Call(message, absl::Seconds(20));
    if (kill) identity->Kill9();
    if (!ack.ok()) {
      ADD_FAILURE() << ack.status();
      return "";
    }
    return hl7::AckCodeOf(*ack);
  };
  auto restart = [&] {
    absl::Status s = identity->Start();
    EXPECT_TRUE(s.ok()) << "restart: " << s;
    return s.ok();
  };
  auto get = [&](const std::string& mrn, v1::SourceRecord* record) {
    auto stub = identity->Stub("operator");
    v1::GetSourceRecordRequest request = WithContext(v1::GetSourceRecordRequest());
    *request.mutable_source_id() = Sid("clinic-a", mrn);
    return stub->GetSourceRecord(Deadline().get(), request, record);
  };

  // A04: registered.
  Patient patient = MadeUpPatient(7);
  const std::string a04 = AdtMessage("A04", "DUR-1", {PidSegment("E1", patient)});
  ASSERT_EQ(send_then_kill(a04, true), "AA");
  ASSERT_TRUE(restart());
  v1::SourceRecord record;
  grpc::Status status = get("E1", &record);
  ASSERT_TRUE(status.ok()) << "A04 acknowledged AA, then SIGKILL: the record is missing ("
                           << CodeName(status.error_code()) << ")";
  EXPECT_EQ(record.version(), 1);
  EXPECT_EQ(record.demographics().name().family(), patient.family);

  // A08: the update is the current version.
  Patient moved = patient;
  moved.street = "1 Harbour Road";
  moved.city = "Port Ellis";
  moved.zip = "60999";
  const std::string a08 = AdtMessage("A08", "DUR-2", {PidSegment("E1", moved)});
  ASSERT_EQ(send_then_kill(a08, true), "AA");
  ASSERT_TRUE(restart());
  status = get("E1", &record);
  ASSERT_TRUE(status.ok()) << CodeName(status.error_code());
  EXPECT_EQ(record.version(), 2) << "A08 acknowledged AA, then SIGKILL: the update is missing";
  ASSERT_GT(record.demographics().addresses_size(), 0);
  EXPECT_EQ(record.demographics().addresses(0).city(), "Port Ellis")
      << "the update is not the current version";

  // A40: E2 merged into E1 by the source.
  const std::string e2 = AdtMessage("A04", "DUR-3", {PidSegment("E2", MadeUpPatient(8))});
  ASSERT_EQ(send_then_kill(e2, false), "AA");
  const std::string a40 =
      AdtMessage("A40", "DUR-4", {PidSegment("E1", moved), "MRG|E2^^^CLINIC^MR"});
  ASSERT_EQ(send_then_kill(a40, true), "AA");
  ASSERT_TRUE(restart());
  status = get("E2", &record);
  ASSERT_TRUE(status.ok()) << CodeName(status.error_code());
  EXPECT_EQ(record.state(), v1::RECORD_STATE_SUPERSEDED)
      << "A40 acknowledged AA, then SIGKILL: the merge is missing";
  EXPECT_EQ(record.superseded_by().local_id(), "E1");
  v1::SourceRecord survivor;
  ASSERT_TRUE(get("E1", &survivor).ok());
  auto stub = identity->Stub("operator");
  v1::ResolveRequest resolve = WithContext(v1::ResolveRequest());
  *resolve.mutable_source_id() = Sid("clinic-a", "E2");
  v1::ResolveResponse resolved;
  ASSERT_TRUE(stub->Resolve(Deadline().get(), resolve, &resolved).ok());
  EXPECT_EQ(resolved.person_id(), survivor.person_id()) << "E2 resolves to its survivor's person";

  // Resending all of them (lost ACKs, as far as the sender knows) changes nothing.
  const int64_t e1_version = survivor.version();
  for (const std::string* message : {&a04, &a08, &e2, &a40}) {
    EXPECT_EQ(send_then_kill(*message, false), "AA");
  }
  ASSERT_TRUE(get("E1", &survivor).ok());
  EXPECT_EQ(survivor.version(), e1_version) << "a resent message made a new version";
  ASSERT_TRUE(get("E2", &record).ok());
  EXPECT_EQ(record.state(), v1::RECORD_STATE_SUPERSEDED);
}

}  // namespace
}  // namespace hie::e2e
