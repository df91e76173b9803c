// FindOutsideRecords' flow with fakes for the hub's services, the members and the client: what
// is released, in which order, after which audit record, and what is never called.

#include "services/gateway/core/federated_query.h"

#include <gtest/gtest.h>

#include <deque>

#include "absl/strings/str_cat.h"
#include "services/gateway/core/fake_hub_for_tests.h"

namespace hie::gateway {
namespace {

using common::v1::SourceId;
using registry::v1::DocumentEntry;
using testing::Entry;
using testing::FakeHub;
using testing::Id;

// Members answer at once, as scripted per org.
class FakeMembers : public MemberCalls {
 public:
  class Batch : public MemberCallBatch {
   public:
    std::optional<std::pair<size_t, MemberAnswer>> Next(absl::Time) override {
      if (answers.empty()) return std::nullopt;
      auto next = std::move(answers.front());
      answers.pop_front();
      return next;
    }
    bool done() const override { return answers.empty(); }
    void Cancel() override { *cancelled = true; }
    std::deque<std::pair<size_t, MemberAnswer>> answers;
    bool* cancelled;
  };
  std::unique_ptr<MemberCallBatch> Start(std::vector<Call> calls, absl::Time) override {
    auto batch = std::make_unique<Batch>();
    batch->cancelled = &cancelled;
    for (size_t i = 0; i < calls.size(); ++i) {
      called.push_back(calls[i]);
      batch->answers.emplace_back(i, script[calls[i].org]);
    }
    return batch;
  }
  std::map<std::string, MemberAnswer> script;
  std::vector<Call> called;
  bool cancelled = false;
};

class FakeStream : public ResultStream {
 public:
  bool Write(v1::FindOutsideRecordsResponse m) override {
    if (written.size() >= accept) return false;
    audited_before.push_back(hub->audited.size());
    written.push_back(std::move(m));
    return true;
  }
  std::vector<v1::FindOutsideRecordsResponse> written;
  std::vector<size_t> audited_before;  // audit events on record when each message was written
  size_t accept = 1000;
  FakeHub* hub;
};

MemberAnswer Answered(std::vector<DocumentEntry> entries) {
  MemberAnswer a;
  a.entries = std::move(entries);
  a.latency = absl::Milliseconds(5);
  return a;
}

class FederatedQueryTest : public ::testing::Test {
 protected:
  FederatedQueryTest() {
    for (const char* org : {"clinic-a", "clinic-b", "clinic-c", "clinic-d"}) {
      hub_.directory[org] = DirectoryEntry{org, org, v1::MEMBER_STATE_ACTIVE, 1000};
    }
    hub_.verdicts["clinic-b"] = Verdict{true, {}, "dec-b"};
    hub_.verdicts["clinic-c"] = Verdict{false, {}, "dec-c"};
    consent::v1::Obligation redact;
    redact.set_type(consent::v1::Obligation::TYPE_REDACT_DATA_CATEGORIES);
    hub_.verdicts["clinic-d"] = Verdict{true, {redact}, "dec-d"};
    members_.script["clinic-b"] = Answered(
        {Entry("clinic-b", "b-1", "b-doc-1", 200), Entry("clinic-b", "b-1", "b-doc-2", 100)});
    members_.script["clinic-d"] =
        Answered({Entry("clinic-d", "d-1", "secret", 300), Entry("clinic-d", "d-1", "d-doc", 50)});
    hub_.registry = {Entry("clinic-b", "b-1", "b-doc-1", 200, "urn:uuid:b1"),
                     Entry("clinic-c", "c-1", "c-doc", 10, "urn:uuid:c1")};
    context_.set_request_id("req-1");
    context_.set_purpose_of_use(common::v1::PURPOSE_OF_USE_TREATMENT);
    context_.mutable_actor()->set_org("clinic-a");
    context_.mutable_actor()->set_user_id("dr-1");
    request_.set_local_id("a-1");
    options_.new_event_id = [this] { return absl::StrCat("ev-", ++events_); };
    stream_.hub = &hub_;
  }

  absl::Status Run() {
    return RunFederatedQuery(context_, request_, absl::Now() + absl::Seconds(1), hub_, members_,
                             stream_, options_);
  }

  const v1::MemberResult* ResultFor(const std::string& org) {
    for (const auto& m : stream_.written) {
      if (m.has_member_result() && m.member_result().member_org() == org) {
        return &m.member_result();
      }
    }
    return nullptr;
  }

  FakeHub hub_;
  FakeMembers members_;
  FakeStream stream_;
  common::v1::RequestContext context_;
  v1::FindOutsideRecordsRequest request_;
  FederatedQueryOptions options_;
  int events_ = 0;
};

TEST_F(FederatedQueryTest, StreamsEachPermittedMemberAfterItsDisclosureIsAudited) {
  ASSERT_TRUE(Run().ok());
  // The caller's own org is neither asked about nor called; clinic-c (denied) is never called.
  EXPECT_EQ(hub_.decided_for, (std::vector<std::string>{"clinic-b", "clinic-c", "clinic-d"}));
  ASSERT_EQ(members_.called.size(), 2u);
  EXPECT_EQ(members_.called[0].org, "clinic-b");
  EXPECT_EQ(members_.called[1].org, "clinic-d");
  EXPECT_EQ(members_.called[1].request.obligations_size(), 1);  // the member is told, too
  EXPECT_EQ(members_.called[0].request.context().request_id(), "req-1");

  ASSERT_EQ(stream_.written.size(), 4u);  // denied, b, d, summary
  EXPECT_EQ(stream_.written[0].member_result().member_org(), "clinic-c");
  EXPECT_EQ(stream_.written[0].member_result().status(), v1::MEMBER_STATUS_DENIED_BY_CONSENT);
  EXPECT_EQ(stream_.written[0].member_result().entries_size(), 0);  // nothing from the registry
  const v1::MemberResult* b = ResultFor("clinic-b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->entries_size(), 2);
  EXPECT_EQ(b->entries(0).entry_uuid(), "urn:uuid:b1");  // merged with the registry's
  EXPECT_EQ(b->entry_sources(0), v1::ENTRY_SOURCE_REGISTRY_AND_MEMBER);
  const v1::MemberResult* d = ResultFor("clinic-d");
  ASSERT_NE(d, nullptr);
  ASSERT_EQ(d->entries_size(), 1);  // the hub redacted what the member sent anyway
  EXPECT_EQ(d->entries(0).unique_id(), "d-doc");
  ASSERT_TRUE(stream_.written[3].has_summary());
  EXPECT_EQ(stream_.written[3].summary().members_total(), 3);
  EXPECT_EQ(stream_.written[3].summary().members_denied(), 1);
  EXPECT_FALSE(stream_.written[3].summary().partial());

  // The QUERY event first, then one DISCLOSURE per released member, each before its message.
  ASSERT_EQ(hub_.audited.size(), 3u);
  EXPECT_EQ(hub_.audited[0].type(), audit::v1::EVENT_TYPE_QUERY);
  EXPECT_EQ(hub_.audited[0].details().at("members_denied"), "clinic-c");
  EXPECT_EQ(hub_.audited[0].details().at("members_permitted"), "clinic-b,clinic-d");
  EXPECT_EQ(hub_.audited[0].person_id(), "person-1");
  EXPECT_EQ(stream_.audited_before[0], 1u);
  for (int i : {1, 2}) {
    const auto& e = hub_.audited[i];
    EXPECT_EQ(e.type(), audit::v1::EVENT_TYPE_DISCLOSURE);
    const v1::MemberResult& released = stream_.written[i].member_result();
    EXPECT_EQ(e.custodian_org(), released.member_org());
    EXPECT_EQ(e.objects_size(), released.entries_size());
    EXPECT_GE(stream_.audited_before[i], static_cast<size_t>(i + 1));
  }
}

TEST_F(FederatedQueryTest, ConsentUnavailableReleasesNothingAndCallsNobody) {
  hub_.consent_up = false;
  absl::Status s = Run();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(stream_.written.empty());
  EXPECT_TRUE(members_.called.empty());
}

TEST_F(FederatedQueryTest, NoQueryAuditRecordMeansNothingReleasedAndNobodyCalled) {
  hub_.audit_failures = 1;
  absl::Status s = Run();
  EXPECT_TRUE(absl::IsUnavailable(s)) << s;
  EXPECT_TRUE(stream_.written.empty());
  EXPECT_TRUE(members_.called.empty());
}

TEST_F(FederatedQueryTest, ADisclosureThatCannotBeAuditedIsReleasedEmpty) {
  members_.script.erase("clinic-d");
  hub_.verdicts.erase("clinic-d");  // one member released
  FakeHub* hub = &hub_;
  hub_.audit_failures = 0;
  // The query event succeeds; the next Record (clinic-b's disclosure) fails.
  options_.new_event_id = [this, hub] {
    if (hub->audited.size() == 1) hub->audit_failures = 1;
    return absl::StrCat("ev-", ++events_);
  };
  ASSERT_TRUE(Run().ok());
  const v1::MemberResult* b = ResultFor("clinic-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status(), v1::MEMBER_STATUS_UNAVAILABLE);
  EXPECT_EQ(b->detail(), "AUDIT_UNAVAILABLE");
  EXPECT_EQ(b->entries_size(), 0);
}

TEST_F(FederatedQueryTest, AClientThatGoesAwayStopsTheQueryAndTheCalls) {
  stream_.accept = 1;  // the denied row, then gone
  absl::Status s = Run();
  EXPECT_TRUE(absl::IsCancelled(s)) << s;
  EXPECT_TRUE(members_.cancelled);
  ASSERT_EQ(stream_.written.size(), 1u);
  // Everything written had been audited; what was not written may have been audited too
  // (audit-before-release), never the reverse.
  EXPECT_GE(hub_.audited.size(), 1u);
}

TEST_F(FederatedQueryTest, ADownMembersPublishedEntriesStillAnswer) {
  MemberAnswer timeout;
  timeout.status = absl::DeadlineExceededError("member");
  members_.script["clinic-b"] = timeout;
  ASSERT_TRUE(Run().ok());
  const v1::MemberResult* b = ResultFor("clinic-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->status(), v1::MEMBER_STATUS_TIMEOUT);
  ASSERT_EQ(b->entries_size(), 1);
  EXPECT_EQ(b->entry_sources(0), v1::ENTRY_SOURCE_REGISTRY);
  EXPECT_TRUE(stream_.written.back().summary().partial());
}

TEST_F(FederatedQueryTest, ASuspendedMemberIsNotCalledButItsRegistryEntriesAnswer) {
  hub_.directory["clinic-b"].state = v1::MEMBER_STATE_SUSPENDED;
  ASSERT_TRUE(Run().ok());
  for (const auto& c : members_.called) EXPECT_NE(c.org, "clinic-b");
  const v1::MemberResult* b = ResultFor("clinic-b");
  ASSERT_NE(b, nullptr);
  EXPECT_EQ(b->detail(), "MEMBER_SUSPENDED");
  EXPECT_EQ(b->entries_size(), 1);
}

TEST_F(FederatedQueryTest, AnUnknownPatientIsNotFound) {
  request_.set_local_id("nobody");
  EXPECT_TRUE(absl::IsNotFound(Run()));
  EXPECT_TRUE(stream_.written.empty());
  EXPECT_TRUE(hub_.audited.empty());
}

TEST_F(FederatedQueryTest, AMemberWithoutTimeFiltersGetsNoneAndTheGatewayAppliesThem) {
  hub_.directory["clinic-b"].supports_time_filters = false;
  common::v1::TimeRange* created = request_.mutable_query()->mutable_creation_time();
  created->mutable_start()->set_seconds(150);
  created->mutable_end()->set_seconds(250);
  ASSERT_TRUE(Run().ok());
  ASSERT_EQ(members_.called.size(), 2u);
  EXPECT_FALSE(members_.called[0].request.query().has_creation_time());  // clinic-b
  EXPECT_TRUE(members_.called[1].request.query().has_creation_time());   // clinic-d
  const v1::MemberResult* b = ResultFor("clinic-b");
  ASSERT_NE(b, nullptr);
  ASSERT_EQ(b->entries_size(), 1);  // b-doc-2 (created at 100) is outside the range
  EXPECT_EQ(b->entries(0).unique_id(), "b-doc-1");
}

TEST(TimeRangesTest, HalfOpenAndATimeTheEntryLacksExcludes) {
  registry::v1::DocumentEntry e;
  e.mutable_creation_time()->set_seconds(100);
  registry::v1::DocumentQuery q;
  EXPECT_TRUE(WithinTimeRanges(e, q));
  q.mutable_creation_time()->mutable_start()->set_seconds(100);
  EXPECT_TRUE(WithinTimeRanges(e, q));
  q.mutable_creation_time()->mutable_end()->set_seconds(100);
  EXPECT_FALSE(WithinTimeRanges(e, q));  // the end is excluded
  q.clear_creation_time();
  q.mutable_service_start_time()->mutable_start()->set_seconds(1);
  EXPECT_FALSE(WithinTimeRanges(e, q));  // no service start time: no match
  EXPECT_FALSE(WithoutTimeRanges(q).has_service_start_time());
}

// Discovery by demographics (XCPD): a walk-in at clinic-a, never fed there.
TEST_F(FederatedQueryTest, DemographicsSinglingOutOnePersonWithCertaintyAreQueriedLikeARecord) {
  request_.clear_local_id();
  request_.mutable_demographics()->set_birth_date("1980-02-03");
  hub_.persons = {
      PersonCandidate{"person-1",
                      identity::v1::MATCH_GRADE_CERTAIN,
                      {Id("clinic-b", "b-1"), Id("clinic-c", "c-1"), Id("clinic-d", "d-1")}}};
  ASSERT_TRUE(Run().ok());
  ASSERT_NE(ResultFor("clinic-b"), nullptr);
  EXPECT_EQ(ResultFor("clinic-b")->status(), v1::MEMBER_STATUS_OK);
  // Which members hold data the patient withholds is not told to a caller without a record.
  EXPECT_EQ(ResultFor("clinic-c")->status(), v1::MEMBER_STATUS_NO_DATA);
  EXPECT_EQ(ResultFor("clinic-c")->entries_size(), 0);
  ASSERT_FALSE(hub_.audited.empty());
  EXPECT_EQ(hub_.audited[0].type(), audit::v1::EVENT_TYPE_QUERY);
  EXPECT_EQ(hub_.audited[0].details().at("patient_discovery"), "demographics");
  EXPECT_EQ(hub_.audited[0].details().at("members_denied"), "clinic-c");
}

TEST_F(FederatedQueryTest, AmbiguousOrUncertainDemographicsReleaseNothingAndCallNobody) {
  request_.clear_local_id();
  request_.mutable_demographics()->set_birth_date("1980-02-03");
  const PersonCandidate twin_a{
      "person-1", identity::v1::MATCH_GRADE_CERTAIN, {Id("clinic-b", "b-1")}};
  const PersonCandidate twin_b{
      "person-2", identity::v1::MATCH_GRADE_PROBABLE, {Id("clinic-c", "c-9")}};
  const PersonCandidate likely{
      "person-3", identity::v1::MATCH_GRADE_PROBABLE, {Id("clinic-b", "b-3")}};
  for (const auto& found :
       std::vector<std::vector<PersonCandidate>>{{}, {twin_a, twin_b}, {likely}}) {
    hub_.persons = found;
    absl::Status status = Run();
    EXPECT_EQ(status.code(), absl::StatusCode::kNotFound) << found.size();
    EXPECT_EQ(status.message(),
              "demographics: no single person matches with certainty; nothing "
              "is released");  // the same answer whatever was found
  }
  EXPECT_TRUE(hub_.decided_for.empty());
  EXPECT_TRUE(members_.called.empty());
  // Each search that found no one is on the record (no patient, no demographics).
  ASSERT_EQ(hub_.audited.size(), 3u);
  for (const auto& e : hub_.audited) {
    EXPECT_EQ(e.outcome(), audit::v1::OUTCOME_FAILURE);
    EXPECT_EQ(e.details().at("patient_discovery"), "no_single_certain_match");
    EXPECT_EQ(e.patients_size(), 0);
  }
  hub_.audit_failures = 1;  // and without a record, no answer
  EXPECT_EQ(Run().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(stream_.written.empty());
}

}  // namespace
}  // namespace hie::gateway
