#include "services/audit/store/audit_store_contract.h"

#include <gmock/gmock.h>

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "services/audit/core/canonical.h"
#include "services/common/proto_time.h"
#include "services/common/status_macros.h"

namespace hie::audit {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::IsEmpty;

absl::Time Utc(int year, int month, int day, int hour = 12) {
  return absl::FromCivil(absl::CivilHour(year, month, day, hour), absl::UTCTimeZone());
}

SourceId Patient(const std::string& org, const std::string& local_id) {
  SourceId id;
  id.set_org(org);
  id.set_local_id(local_id);
  return id;
}

// An event's content as a producer would send it.
v1::AuditEvent Content(const std::string& event_id, absl::Time event_time) {
  v1::AuditEvent e;
  e.set_event_id(event_id);
  SetTimestamp(event_time, e.mutable_event_time());
  e.set_type(v1::EventType(1));
  e.set_action("gateway.RetrieveDocument");
  e.set_outcome(v1::Outcome(1));
  e.mutable_actor()->set_org("clinic-a");
  e.mutable_actor()->set_user_id("dr-okafor");
  e.set_purpose_of_use(hie::common::v1::PurposeOfUse(1));
  e.set_request_id(absl::StrCat("req-", event_id));
  e.set_custodian_org("hospital-b");
  e.set_source_service("gateway");
  return e;
}

// Builds events continuing a chain, as the core does: sequence, record time, previous hash,
// encoding, hash and fingerprint.
class Chain {
 public:
  NewEvent Next(v1::AuditEvent e, absl::Time record_time) {
    e.set_sequence(++sequence_);
    SetTimestamp(record_time, e.mutable_record_time());
    e.set_previous_hash(previous_);
    NewEvent out;
    out.encoding = EncodeEvent(e);
    out.fingerprint = ContentFingerprint(e);
    e.set_hash(ChainHash(previous_, out.encoding));
    previous_ = e.hash();
    out.event = std::move(e);
    return out;
  }
  int64_t sequence() const { return sequence_; }

 private:
  int64_t sequence_ = 0;
  std::string previous_ = GenesisHash();
};

absl::Status AppendAll(AuditStore& store, const std::vector<NewEvent>& events) {
  return store.Transact(absl::Now() + absl::Seconds(30), [&](AuditTxn& txn) -> absl::Status {
    HIE_RETURN_IF_ERROR(txn.LockHead().status());
    return txn.Append(events);
  });
}

std::vector<ChainRow> Scan(AuditStore& store, int64_t from, int64_t to) {
  std::vector<ChainRow> rows;
  absl::Status s =
      store.ScanChain(from, to, absl::Now() + absl::Seconds(30), [&](const ChainRow& row) {
        rows.push_back(row);
        return absl::OkStatus();
      });
  EXPECT_TRUE(s.ok()) << s;
  return rows;
}

std::vector<int64_t> Sequences(const std::vector<ChainRow>& rows) {
  std::vector<int64_t> out;
  for (const ChainRow& row : rows) out.push_back(row.sequence);
  return out;
}

std::vector<int64_t> Found(AuditStore& store, const EventQuery& query) {
  absl::StatusOr<std::vector<ChainRow>> rows = store.Search(query, absl::Now() + absl::Seconds(30));
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? Sequences(*rows) : std::vector<int64_t>{};
}

// ---------------------------------------------------------------------------------------------
// Append, head, idempotency, positions
// ---------------------------------------------------------------------------------------------

TEST_P(AuditStoreContractTest, EmptyStore) {
  absl::StatusOr<ChainHead> head = store_->Head(Deadline());
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 0);
  EXPECT_EQ(head->hash, GenesisHash());
  absl::StatusOr<RetentionHorizon> horizon = store_->Horizon(Deadline());
  ASSERT_TRUE(horizon.ok()) << horizon.status();
  EXPECT_EQ(horizon->first_sequence, 1);
  EXPECT_EQ(horizon->previous_hash, GenesisHash());
  EXPECT_THAT(Scan(*store_, 1, 100), IsEmpty());
  EXPECT_THAT(Found(*store_, EventQuery{}), IsEmpty());
  EXPECT_THAT(*store_->ListSigningKeys(Deadline()), IsEmpty());
}

TEST_P(AuditStoreContractTest, AppendMovesTheHeadAndStoresRowsAsGiven) {
  Chain chain;
  std::vector<NewEvent> batch;
  for (int i = 1; i <= 3; ++i) {
    batch.push_back(chain.Next(Content(absl::StrCat("e", i), Utc(2024, 3, 1)), Utc(2024, 3, i)));
  }
  ASSERT_TRUE(AppendAll(*store_, batch).ok());
  absl::StatusOr<ChainHead> head = store_->Head(Deadline());
  ASSERT_TRUE(head.ok()) << head.status();
  EXPECT_EQ(head->sequence, 3);
  EXPECT_EQ(head->hash, batch[2].event.hash());
  EXPECT_EQ(head->record_time, Utc(2024, 3, 3));
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(ChainHead locked, txn.LockHead());
                               EXPECT_EQ(locked.sequence, 3);
                               EXPECT_EQ(locked.hash, batch[2].event.hash());
                               EXPECT_EQ(locked.record_time, Utc(2024, 3, 3));
                               return absl::OkStatus();
                             })
                  .ok());
  std::vector<ChainRow> rows = Scan(*store_, 1, 3);
  ASSERT_EQ(rows.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(rows[i].sequence, i + 1);
    EXPECT_EQ(rows[i].encoding, batch[i].encoding);
    EXPECT_EQ(rows[i].hash, batch[i].event.hash());
    EXPECT_EQ(rows[i].previous_hash, batch[i].event.previous_hash());
  }
  // Two batches in one transaction continue each other.
  std::vector<NewEvent> next1 = {chain.Next(Content("e4", Utc(2024, 3, 1)), Utc(2024, 3, 4))};
  std::vector<NewEvent> next2 = {chain.Next(Content("e5", Utc(2024, 3, 1)), Utc(2024, 4, 2))};
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) -> absl::Status {
                               HIE_RETURN_IF_ERROR(txn.LockHead().status());
                               HIE_RETURN_IF_ERROR(txn.Append(next1));
                               return txn.Append(next2);
                             })
                  .ok());
  EXPECT_EQ(store_->Head(Deadline())->sequence, 5);
  EXPECT_EQ(store_->Head(Deadline())->record_time, Utc(2024, 4, 2));
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1, 2, 3, 4, 5));
}

TEST_P(AuditStoreContractTest, AppendMustContinueTheHead) {
  Chain chain;
  NewEvent first = chain.Next(Content("e1", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  NewEvent second = chain.Next(Content("e2", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  EXPECT_EQ(AppendAll(*store_, {second}).code(), absl::StatusCode::kFailedPrecondition);
  ASSERT_TRUE(AppendAll(*store_, {first}).ok());
  EXPECT_EQ(AppendAll(*store_, {first}).code(), absl::StatusCode::kFailedPrecondition);
  NewEvent third = chain.Next(Content("e3", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  EXPECT_EQ(AppendAll(*store_, {third}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(AppendAll(*store_, {second, second}).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store_->Head(Deadline())->sequence, 1);
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1));
  EXPECT_TRUE(AppendAll(*store_, {second, third}).ok());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1, 2, 3));
}

TEST_P(AuditStoreContractTest, AppendExpectingMovesOnlyTheExpectedHead) {
  Chain chain;
  NewEvent first = chain.Next(Content("e1", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  NewEvent second = chain.Next(Content("e2", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  int locked = 0;
  auto append_expecting = [&](const ChainHead& expected, const std::vector<NewEvent>& events,
                              int* written) {
    return store_->Transact(Deadline(), [&](AuditTxn& txn) {
      return txn.AppendExpecting(
          expected, events, [&] { ++*written; },
          [&] {
            EXPECT_EQ(locked + 1, *written);  // written first, then the lock
            ++locked;
          });
    });
  };
  int written = 0;
  const ChainHead genesis = *store_->Head(Deadline());
  ASSERT_TRUE(append_expecting(genesis, {first}, &written).ok());
  EXPECT_EQ(written, 1);
  EXPECT_EQ(locked, 1);
  // Still expecting the genesis head: the chain moved, nothing is stored.
  NewEvent stale = Chain().Next(Content("e9", Utc(2024, 3, 2)), Utc(2024, 3, 2));
  EXPECT_EQ(append_expecting(genesis, {stale}, &written).code(), absl::StatusCode::kAborted);
  // Events that do not continue the expected head.
  const ChainHead after_first = *store_->Head(Deadline());
  EXPECT_EQ(append_expecting(after_first, {first}, &written).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1));
  ASSERT_TRUE(append_expecting(after_first, {second}, &written).ok());
  EXPECT_EQ(store_->Head(Deadline())->sequence, 2);
  EXPECT_EQ(store_->Head(Deadline())->hash, second.event.hash());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1, 2));
}

TEST_P(AuditStoreContractTest, DuplicateEventIdFailsTheWholeBatch) {
  Chain chain;
  ASSERT_TRUE(
      AppendAll(*store_, {chain.Next(Content("a", Utc(2024, 3, 1)), Utc(2024, 3, 1))}).ok());
  Chain again = chain;
  std::vector<NewEvent> batch = {chain.Next(Content("b", Utc(2024, 3, 1)), Utc(2024, 3, 1)),
                                 chain.Next(Content("a", Utc(2024, 3, 2)), Utc(2024, 3, 1))};
  EXPECT_EQ(AppendAll(*store_, batch).code(), absl::StatusCode::kAlreadyExists);
  // The same id twice in one batch.
  Chain twice = again;
  std::vector<NewEvent> doubled = {twice.Next(Content("c", Utc(2024, 3, 1)), Utc(2024, 3, 1)),
                                   twice.Next(Content("c", Utc(2024, 3, 1)), Utc(2024, 3, 1))};
  EXPECT_EQ(AppendAll(*store_, doubled).code(), absl::StatusCode::kAlreadyExists);
  EXPECT_EQ(store_->Head(Deadline())->sequence, 1);
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1));
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(auto found, txn.FindEvents({"a", "b", "c"}));
                               EXPECT_EQ(found.size(), 1u);
                               EXPECT_TRUE(found.count("a"));
                               return absl::OkStatus();
                             })
                  .ok());
  // The chain goes on from the head.
  EXPECT_TRUE(
      AppendAll(*store_, {again.Next(Content("b", Utc(2024, 3, 1)), Utc(2024, 3, 1))}).ok());
}

TEST_P(AuditStoreContractTest, FindEventsAnswersEarlierAppends) {
  Chain chain;
  NewEvent a = chain.Next(Content("id-a", Utc(2024, 3, 1)), Utc(2024, 3, 5, 7));
  ASSERT_TRUE(AppendAll(*store_, {a}).ok());
  NewEvent b = chain.Next(Content("id-b", Utc(2024, 3, 1)), Utc(2024, 3, 6));
  absl::Status s = store_->Transact(Deadline(), [&](AuditTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto none, txn.FindEvents({}));
    EXPECT_THAT(none, IsEmpty());
    HIE_ASSIGN_OR_RETURN(auto found, txn.FindEvents({"id-a", "id-b", "nope"}));
    EXPECT_EQ(found.size(), 1u);
    const ExistingEvent& e = found["id-a"];
    EXPECT_EQ(e.sequence, 1);
    EXPECT_EQ(e.hash, a.event.hash());
    EXPECT_EQ(e.record_time, Utc(2024, 3, 5, 7));
    EXPECT_EQ(e.fingerprint, a.fingerprint);
    HIE_RETURN_IF_ERROR(txn.LockHead().status());
    HIE_RETURN_IF_ERROR(txn.Append({b}));
    // Visible inside the transaction that appended it.
    HIE_ASSIGN_OR_RETURN(auto after, txn.FindEvents({"id-b"}));
    EXPECT_EQ(after.size(), 1u);
    EXPECT_EQ(after["id-b"].sequence, 2);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(AuditStoreContractTest, FindEventsTakesRepeatedAndQuotedIds) {
  Chain chain;
  const std::string odd = "id \"with\" {quotes}, a comma\\ and 'apostrophes'";
  NewEvent a = chain.Next(Content(odd, Utc(2024, 3, 1)), Utc(2024, 3, 5));
  NewEvent b = chain.Next(Content("id-b", Utc(2024, 3, 1)), Utc(2024, 3, 5));
  ASSERT_TRUE(AppendAll(*store_, {a, b}).ok());
  std::vector<std::string> ids = {odd, "id-b", odd, "nope", "id-b"};
  for (int i = 0; i < 3000; ++i) ids.push_back(absl::StrCat("absent-", i));  // a large group's
  absl::Status s = store_->Transact(Deadline(), [&](AuditTxn& txn) -> absl::Status {
    HIE_ASSIGN_OR_RETURN(auto found, txn.FindEvents(ids));
    EXPECT_EQ(found.size(), 2u);
    EXPECT_EQ(found[odd].sequence, 1);
    EXPECT_EQ(found[odd].hash, a.event.hash());
    EXPECT_EQ(found["id-b"].sequence, 2);
    return absl::OkStatus();
  });
  EXPECT_TRUE(s.ok()) << s;
}

TEST_P(AuditStoreContractTest, AFailedTransactionLeavesNothing) {
  Chain chain;
  NewEvent a = chain.Next(Content("id-a", Utc(2024, 3, 1)), Utc(2024, 3, 1));
  absl::Status s = store_->Transact(Deadline(), [&](AuditTxn& txn) -> absl::Status {
    HIE_RETURN_IF_ERROR(txn.LockHead().status());
    HIE_RETURN_IF_ERROR(txn.Append({a}));
    HIE_RETURN_IF_ERROR(txn.SetPosition("identity", 42));
    return absl::InternalError("work failed after appending");
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_EQ(store_->Head(Deadline())->sequence, 0);
  EXPECT_THAT(Scan(*store_, 1, 10), IsEmpty());
  EXPECT_THAT(Found(*store_, EventQuery{}), IsEmpty());
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) -> absl::Status {
                               HIE_ASSIGN_OR_RETURN(auto found, txn.FindEvents({"id-a"}));
                               EXPECT_THAT(found, IsEmpty());
                               EXPECT_EQ(*txn.GetPosition("identity"), 0);
                               return absl::OkStatus();
                             })
                  .ok());
  // The same event appends once the failure is gone.
  EXPECT_TRUE(AppendAll(*store_, {a}).ok());
}

TEST_P(AuditStoreContractTest, PositionsBelongToTheTransaction) {
  auto position = [&](const std::string& feed) {
    int64_t out = -1;
    EXPECT_TRUE(store_
                    ->Transact(Deadline(),
                               [&](AuditTxn& txn) -> absl::Status {
                                 HIE_ASSIGN_OR_RETURN(out, txn.GetPosition(feed));
                                 return absl::OkStatus();
                               })
                    .ok());
    return out;
  };
  EXPECT_EQ(position("identity"), 0);
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) -> absl::Status {
                               HIE_RETURN_IF_ERROR(txn.SetPosition("identity", 5));
                               EXPECT_EQ(*txn.GetPosition("identity"), 5);
                               return txn.SetPosition("identity", 6);
                             })
                  .ok());
  EXPECT_EQ(position("identity"), 6);
  EXPECT_EQ(position("other"), 0);
  EXPECT_EQ(store_
                ->Transact(Deadline(),
                           [&](AuditTxn& txn) -> absl::Status {
                             HIE_RETURN_IF_ERROR(txn.SetPosition("identity", 9));
                             return absl::AbortedError("changed my mind");
                           })
                .code(),
            absl::StatusCode::kAborted);
  EXPECT_EQ(position("identity"), 6);
}

// ---------------------------------------------------------------------------------------------
// ScanChain
// ---------------------------------------------------------------------------------------------

TEST_P(AuditStoreContractTest, ScanChainReadsRangesInOrder) {
  Chain chain;
  std::vector<NewEvent> batch;
  // Across two months of record time.
  for (int i = 1; i <= 10; ++i) {
    batch.push_back(chain.Next(Content(absl::StrCat("e", i), Utc(2024, 3, 1)),
                               i <= 5 ? Utc(2024, 3, 20 + i) : Utc(2024, 4, i)));
  }
  ASSERT_TRUE(AppendAll(*store_, batch).ok());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 10)), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9, 10));
  EXPECT_THAT(Sequences(Scan(*store_, 3, 5)), ElementsAre(3, 4, 5));
  EXPECT_THAT(Sequences(Scan(*store_, 5, 6)), ElementsAre(5, 6));
  EXPECT_THAT(Sequences(Scan(*store_, 8, 100)), ElementsAre(8, 9, 10));
  EXPECT_THAT(Sequences(Scan(*store_, 7, 7)), ElementsAre(7));
  EXPECT_THAT(Scan(*store_, 11, 20), IsEmpty());
  EXPECT_THAT(Scan(*store_, 6, 5), IsEmpty());
  std::vector<ChainRow> rows = Scan(*store_, 1, 10);
  for (size_t i = 0; i < rows.size(); ++i) {
    EXPECT_EQ(rows[i].encoding, batch[i].encoding);
    EXPECT_EQ(rows[i].hash, batch[i].event.hash());
    EXPECT_EQ(rows[i].previous_hash, batch[i].event.previous_hash());
    EXPECT_EQ(ChainHash(rows[i].previous_hash, rows[i].encoding), rows[i].hash);
  }
  // The visitor's first error stops the scan and is returned.
  int visited = 0;
  absl::Status s = store_->ScanChain(1, 10, Deadline(), [&](const ChainRow&) {
    return ++visited == 2 ? absl::CancelledError("enough") : absl::OkStatus();
  });
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(visited, 2);
}

// ---------------------------------------------------------------------------------------------
// Search
// ---------------------------------------------------------------------------------------------

// Twelve events, one or two differences each from the default content, event times one hour
// apart (sequence i at hour i) except where noted.
class SearchFixture {
 public:
  explicit SearchFixture(AuditStore& store) {
    Chain chain;
    std::vector<NewEvent> batch;
    for (int i = 1; i <= 12; ++i) {
      v1::AuditEvent e = Content(absl::StrCat("s", i), Time(i));
      switch (i) {
        case 2:
          e.mutable_actor()->set_org("clinic-z");
          break;
        case 3:
          e.mutable_actor()->set_user_id("nurse-1");
          break;
        case 4:
          e.set_custodian_org("lab-q");
          break;
        case 5:
          e.set_type(v1::EventType(2));
          break;
        case 6:
          e.set_outcome(v1::Outcome(2));
          break;
        case 7:
          e.set_purpose_of_use(hie::common::v1::PurposeOfUse(2));
          break;
        case 8:
          e.set_request_id("shared-req");
          e.set_break_glass_id("bg-1");
          break;
        case 9:
          *e.add_patients() = Patient("clinic-a", "mrn-1");
          break;
        case 10:
          *e.add_patients() = Patient("clinic-a", "mrn-1");
          *e.add_patients() = Patient("hospital-b", "77");
          break;
        case 11:
          *e.add_patients() = Patient("hospital-b", "77");
          e.mutable_actor()->set_org("clinic-z");
          break;
        case 12:
          *e.add_patients() = Patient("clinic-a", "mrn-10");
          break;
      }
      batch.push_back(chain.Next(std::move(e), Utc(2024, 3, 1) + absl::Minutes(i)));
    }
    ok = AppendAll(store, batch).ok();
  }
  static absl::Time Time(int i) { return Utc(2024, 2, 1) + absl::Hours(i); }
  bool ok = false;
};

TEST_P(AuditStoreContractTest, SearchByEachFilter) {
  SearchFixture fixture(*store_);
  ASSERT_TRUE(fixture.ok);
  EventQuery all;
  EXPECT_THAT(Found(*store_, all), ElementsAre(12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1));
  EventQuery q;
  q.actor_org = "clinic-z";
  EXPECT_THAT(Found(*store_, q), ElementsAre(11, 2));
  q = {};
  q.actor_user_id = "nurse-1";
  EXPECT_THAT(Found(*store_, q), ElementsAre(3));
  q = {};
  q.custodian_org = "lab-q";
  EXPECT_THAT(Found(*store_, q), ElementsAre(4));
  q = {};
  q.types = {v1::EventType(2)};
  EXPECT_THAT(Found(*store_, q), ElementsAre(5));
  q.types = {v1::EventType(2), v1::EventType(1)};
  EXPECT_EQ(Found(*store_, q).size(), 12u);
  q = {};
  q.outcomes = {v1::Outcome(2)};
  EXPECT_THAT(Found(*store_, q), ElementsAre(6));
  q = {};
  q.purposes = {hie::common::v1::PurposeOfUse(2)};
  EXPECT_THAT(Found(*store_, q), ElementsAre(7));
  q = {};
  q.request_id = "shared-req";
  EXPECT_THAT(Found(*store_, q), ElementsAre(8));
  q = {};
  q.break_glass_only = true;
  EXPECT_THAT(Found(*store_, q), ElementsAre(8));
  // Filters combine (AND).
  q = {};
  q.actor_org = "clinic-z";
  q.patients = {Patient("hospital-b", "77")};
  EXPECT_THAT(Found(*store_, q), ElementsAre(11));
  q.actor_org = "clinic-a";
  EXPECT_THAT(Found(*store_, q), ElementsAre(10));
  q = {};
  q.actor_org = "nobody";
  EXPECT_THAT(Found(*store_, q), IsEmpty());
}

// Text that a store's bulk path must escape (COPY's tab, newline, backslash and "\N", SQL's
// quotes, non-ASCII) is stored, found and read back exactly.
TEST_P(AuditStoreContractTest, AwkwardTextIsStoredAndFoundExactly) {
  const std::vector<std::string> texts = {"a\tb", "line\nbreak\r",   "back\\slash",
                                          "\\N",  "it's \"quoted\"", "Zo\u00eb \u6771\u4eac"};
  Chain chain;
  std::vector<NewEvent> events;
  const absl::Time t = absl::FromUnixSeconds(1'767'225'600);  // 2026-01-01
  for (size_t i = 0; i < texts.size(); ++i) {
    v1::AuditEvent e = Content(absl::StrCat("awkward-", texts[i], "-", i), t);
    e.mutable_actor()->set_org(texts[i]);
    e.mutable_actor()->set_user_id(texts[i]);
    e.set_custodian_org(texts[i]);
    e.set_request_id(texts[i]);
    *e.add_patients() = Patient(texts[i], texts[i]);
    events.push_back(chain.Next(std::move(e), t));
  }
  ASSERT_TRUE(AppendAll(*store_, events).ok());
  std::vector<ChainRow> rows = Scan(*store_, 1, static_cast<int64_t>(texts.size()));
  ASSERT_EQ(rows.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto seq = static_cast<int64_t>(i + 1);
    EXPECT_EQ(rows[i].encoding, events[i].encoding);
    EventQuery q;
    q.actor_org = texts[i];
    q.actor_user_id = texts[i];
    q.custodian_org = texts[i];
    q.request_id = texts[i];
    EXPECT_THAT(Found(*store_, q), ElementsAre(seq)) << i;
    q = {};
    q.patients = {Patient(texts[i], texts[i])};
    EXPECT_THAT(Found(*store_, q), ElementsAre(seq)) << i;
  }
  absl::StatusOr<std::map<std::string, ExistingEvent>> known;
  ASSERT_TRUE(
      store_
          ->Transact(
              absl::Now() + absl::Seconds(30),
              [&](AuditTxn& txn) {
                known = txn.FindEvents({events[0].event.event_id(), events[3].event.event_id()});
                return known.status();
              })
          .ok());
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->size(), 2u);
}

TEST_P(AuditStoreContractTest, SearchByPatients) {
  SearchFixture fixture(*store_);
  ASSERT_TRUE(fixture.ok);
  EventQuery q;
  q.patients = {Patient("clinic-a", "mrn-1")};
  EXPECT_THAT(Found(*store_, q), ElementsAre(10, 9));  // not mrn-10
  q.patients = {Patient("hospital-b", "77")};
  EXPECT_THAT(Found(*store_, q), ElementsAre(11, 10));
  // Any of a person's source ids; an event naming two of them comes once.
  q.patients = {Patient("clinic-a", "mrn-1"), Patient("hospital-b", "77")};
  EXPECT_THAT(Found(*store_, q), ElementsAre(11, 10, 9));
  q.patients = {Patient("hospital-b", "mrn-1")};
  EXPECT_THAT(Found(*store_, q), IsEmpty());
  // With times and paging.
  q.patients = {Patient("clinic-a", "mrn-1"), Patient("hospital-b", "77")};
  q.event_time_end = SearchFixture::Time(11);
  EXPECT_THAT(Found(*store_, q), ElementsAre(10, 9));
  q.event_time_end = absl::InfiniteFuture();
  q.limit = 2;
  EXPECT_THAT(Found(*store_, q), ElementsAre(11, 10));
  q.before = {{absl::ToUnixNanos(SearchFixture::Time(10)), 10}};
  EXPECT_THAT(Found(*store_, q), ElementsAre(9));
}

TEST_P(AuditStoreContractTest, SearchByEventTimeRange) {
  SearchFixture fixture(*store_);
  ASSERT_TRUE(fixture.ok);
  EventQuery q;
  q.event_time_start = SearchFixture::Time(3);  // inclusive
  q.event_time_end = SearchFixture::Time(6);    // exclusive
  EXPECT_THAT(Found(*store_, q), ElementsAre(5, 4, 3));
  q.event_time_start = SearchFixture::Time(3) + absl::Nanoseconds(1);
  EXPECT_THAT(Found(*store_, q), ElementsAre(5, 4));
  q.event_time_end = SearchFixture::Time(3);
  EXPECT_THAT(Found(*store_, q), IsEmpty());
  q = {};
  q.event_time_end = SearchFixture::Time(2) + absl::Nanoseconds(1);
  EXPECT_THAT(Found(*store_, q), ElementsAre(2, 1));
  q.limit = 1;
  EXPECT_THAT(Found(*store_, q), ElementsAre(2));
  q.limit = 0;
  EXPECT_THAT(Found(*store_, q), IsEmpty());
}

// Pages through events whose event times repeat and are not in sequence order.
TEST_P(AuditStoreContractTest, SearchPagesAreStable) {
  Chain chain;
  std::vector<NewEvent> batch;
  std::vector<std::pair<int64_t, int64_t>> expected;  // (event time, sequence)
  for (int i = 1; i <= 23; ++i) {
    absl::Time t = Utc(2024, 2, 1) + absl::Minutes((i * 7) % 5);  // five distinct times
    v1::AuditEvent e = Content(absl::StrCat("p", i), t);
    if (i % 3 == 0) *e.add_patients() = Patient("clinic-a", "mrn-5");
    batch.push_back(chain.Next(std::move(e), Utc(2024, 3, 1)));
    expected.push_back({absl::ToUnixNanos(t), i});
  }
  ASSERT_TRUE(AppendAll(*store_, batch).ok());
  std::sort(expected.rbegin(), expected.rend());
  for (bool by_patient : {false, true}) {
    for (int limit : {1, 4, 7}) {
      std::vector<int64_t> want;
      for (const auto& [t, seq] : expected) {
        if (!by_patient || seq % 3 == 0) want.push_back(seq);
      }
      std::vector<int64_t> got;
      EventQuery q;
      if (by_patient) q.patients = {Patient("clinic-a", "mrn-5")};
      q.limit = limit;
      for (int page = 0; page < 30; ++page) {
        absl::StatusOr<std::vector<ChainRow>> rows = store_->Search(q, Deadline());
        ASSERT_TRUE(rows.ok()) << rows.status();
        ASSERT_LE(static_cast<int>(rows->size()), limit);
        if (rows->empty()) break;
        for (const ChainRow& row : *rows) got.push_back(row.sequence);
        absl::StatusOr<v1::AuditEvent> last = DecodeEvent(rows->back().encoding);
        ASSERT_TRUE(last.ok()) << last.status();
        q.before = {{TimestampNanos(last->event_time()), last->sequence()}};
      }
      EXPECT_THAT(got, ElementsAreArray(want)) << "limit " << limit << " patient " << by_patient;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Checkpoints and signing keys
// ---------------------------------------------------------------------------------------------

v1::Checkpoint MakeCheckpoint(int64_t sequence, absl::Time created) {
  v1::Checkpoint c;
  c.set_sequence(sequence);
  c.set_head_hash(Sha256(absl::StrCat("head ", sequence)));
  SetTimestamp(created, c.mutable_create_time());
  c.set_key_id("key-1");
  c.set_signature_algorithm("ED25519");
  c.set_signature(std::string("\0sig\xff", 5) + std::to_string(sequence));
  return c;
}

std::vector<int64_t> CheckpointSequences(
    const absl::StatusOr<std::vector<v1::Checkpoint>>& checkpoints) {
  EXPECT_TRUE(checkpoints.ok()) << checkpoints.status();
  std::vector<int64_t> out;
  if (checkpoints.ok()) {
    for (const v1::Checkpoint& c : *checkpoints) out.push_back(c.sequence());
  }
  return out;
}

TEST_P(AuditStoreContractTest, Checkpoints) {
  for (int i = 1; i <= 4; ++i) {
    ASSERT_TRUE(store_->PutCheckpoint(MakeCheckpoint(10 * i, Utc(2024, 3, i)), Deadline()).ok());
  }
  auto list = [&](absl::Time start, absl::Time end, std::optional<int64_t> before, int limit) {
    return CheckpointSequences(store_->ListCheckpoints(start, end, before, limit, Deadline()));
  };
  const absl::Time past = absl::InfinitePast(), future = absl::InfiniteFuture();
  EXPECT_THAT(list(past, future, std::nullopt, 100), ElementsAre(40, 30, 20, 10));
  EXPECT_THAT(list(Utc(2024, 3, 2), Utc(2024, 3, 4), std::nullopt, 100), ElementsAre(30, 20));
  EXPECT_THAT(list(past, future, 30, 100), ElementsAre(20, 10));
  EXPECT_THAT(list(past, future, std::nullopt, 2), ElementsAre(40, 30));
  EXPECT_THAT(list(past, future, 30, 1), ElementsAre(20));
  EXPECT_THAT(list(Utc(2024, 3, 2), future, 20, 10), IsEmpty());
  EXPECT_THAT(CheckpointSequences(store_->CheckpointsIn(15, 30, Deadline())), ElementsAre(20, 30));
  EXPECT_THAT(CheckpointSequences(store_->CheckpointsIn(10, 10, Deadline())), ElementsAre(10));
  EXPECT_THAT(CheckpointSequences(store_->CheckpointsIn(41, 100, Deadline())), IsEmpty());
  absl::StatusOr<std::vector<v1::Checkpoint>> in = store_->CheckpointsIn(20, 20, Deadline());
  ASSERT_TRUE(in.ok() && in->size() == 1u);
  EXPECT_EQ(in->front().SerializeAsString(),
            MakeCheckpoint(20, Utc(2024, 3, 2)).SerializeAsString());
}

v1::SigningKey MakeKey(const std::string& id, absl::Time from, const std::string& pem) {
  v1::SigningKey key;
  key.set_key_id(id);
  key.set_signature_algorithm("ED25519");
  key.set_public_key_pem(pem);
  SetTimestamp(from, key.mutable_valid_from());
  return key;
}

TEST_P(AuditStoreContractTest, SigningKeys) {
  ASSERT_TRUE(store_->AddSigningKey(MakeKey("k1", Utc(2024, 1, 1), "pem-1"), Deadline()).ok());
  absl::StatusOr<std::vector<v1::SigningKey>> keys = store_->ListSigningKeys(Deadline());
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 1u);
  EXPECT_FALSE(keys->at(0).has_valid_until());
  EXPECT_EQ(keys->at(0).SerializeAsString(),
            MakeKey("k1", Utc(2024, 1, 1), "pem-1").SerializeAsString());

  ASSERT_TRUE(store_->AddSigningKey(MakeKey("k2", Utc(2024, 2, 1), "pem-2"), Deadline()).ok());
  ASSERT_TRUE(store_->AddSigningKey(MakeKey("k3", Utc(2024, 3, 1), "pem-3"), Deadline()).ok());
  // Re-adding a known id changes nothing.
  ASSERT_TRUE(store_->AddSigningKey(MakeKey("k2", Utc(2024, 9, 1), "other"), Deadline()).ok());
  keys = store_->ListSigningKeys(Deadline());
  ASSERT_TRUE(keys.ok()) << keys.status();
  ASSERT_EQ(keys->size(), 3u);
  EXPECT_EQ(keys->at(0).key_id(), "k1");
  EXPECT_EQ(keys->at(1).key_id(), "k2");
  EXPECT_EQ(keys->at(2).key_id(), "k3");
  EXPECT_EQ(keys->at(1).public_key_pem(), "pem-2");
  v1::SigningKey k1 = MakeKey("k1", Utc(2024, 1, 1), "pem-1");
  SetTimestamp(Utc(2024, 2, 1), k1.mutable_valid_until());  // closed by k2
  EXPECT_EQ(keys->at(0).SerializeAsString(), k1.SerializeAsString());
  v1::SigningKey k2 = MakeKey("k2", Utc(2024, 2, 1), "pem-2");
  SetTimestamp(Utc(2024, 3, 1), k2.mutable_valid_until());  // closed by k3
  EXPECT_EQ(keys->at(1).SerializeAsString(), k2.SerializeAsString());
  EXPECT_FALSE(keys->at(2).has_valid_until());
}

// ---------------------------------------------------------------------------------------------
// Retention
// ---------------------------------------------------------------------------------------------

// Events 1-3 recorded in January 2024, 4-6 in February, 7-9 in March.
std::vector<NewEvent> ThreeMonths(Chain& chain) {
  std::vector<NewEvent> events;
  for (int i = 1; i <= 9; ++i) {
    v1::AuditEvent e = Content(absl::StrCat("r", i), Utc(2024, 1, 1) + absl::Hours(i));
    *e.add_patients() = Patient("clinic-a", "mrn-1");
    events.push_back(chain.Next(std::move(e), Utc(2024, 1 + (i - 1) / 3, 10 + i)));
  }
  return events;
}

TEST_P(AuditStoreContractTest, DropBeforeDropsOnlyCoveredWholeMonths) {
  Chain chain;
  std::vector<NewEvent> events = ThreeMonths(chain);
  ASSERT_TRUE(AppendAll(*store_, events).ok());
  // Nothing before the first month's end; nothing uncovered.
  EXPECT_EQ(*store_->DropBefore(Utc(2024, 1, 31), 9, Deadline()), 0);
  EXPECT_EQ(*store_->DropBefore(Utc(2024, 4, 1), 2, Deadline()), 0);
  EXPECT_EQ(store_->Horizon(Deadline())->first_sequence, 1);
  EXPECT_THAT(Sequences(Scan(*store_, 1, 9)), ElementsAre(1, 2, 3, 4, 5, 6, 7, 8, 9));

  // January is covered and over; February is over but not covered (6 > 5): it stops there.
  absl::StatusOr<int64_t> dropped = store_->DropBefore(Utc(2024, 3, 15), 5, Deadline());
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  absl::StatusOr<RetentionHorizon> horizon = store_->Horizon(Deadline());
  ASSERT_TRUE(horizon.ok()) << horizon.status();
  EXPECT_EQ(horizon->first_sequence, 4);
  EXPECT_EQ(horizon->previous_hash, events[2].event.hash());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 9)), ElementsAre(4, 5, 6, 7, 8, 9));
  EXPECT_THAT(Found(*store_, EventQuery{}), ElementsAre(9, 8, 7, 6, 5, 4));
  EventQuery by_patient;
  by_patient.patients = {Patient("clinic-a", "mrn-1")};
  EXPECT_THAT(Found(*store_, by_patient), ElementsAre(9, 8, 7, 6, 5, 4));
  EXPECT_EQ(store_->Head(Deadline())->sequence, 9);
  // The dropped events' ids are forgotten with them; the others stay known.
  absl::StatusOr<std::map<std::string, ExistingEvent>> known;
  ASSERT_TRUE(store_
                  ->Transact(Deadline(),
                             [&](AuditTxn& txn) {
                               known = txn.FindEvents(
                                   {events[0].event.event_id(), events[2].event.event_id(),
                                    events[3].event.event_id(), events[8].event.event_id()});
                               return known.status();
                             })
                  .ok());
  ASSERT_TRUE(known.ok());
  EXPECT_EQ(known->size(), 2u);
  EXPECT_EQ(known->count(events[3].event.event_id()), 1u);
  EXPECT_EQ(known->count(events[8].event.event_id()), 1u);

  // Covered entirely, but March ends after the cutoff: only February goes.
  dropped = store_->DropBefore(Utc(2024, 3, 31), 100, Deadline());
  ASSERT_TRUE(dropped.ok()) << dropped.status();
  EXPECT_EQ(*dropped, 3);
  horizon = store_->Horizon(Deadline());
  EXPECT_EQ(horizon->first_sequence, 7);
  EXPECT_EQ(horizon->previous_hash, events[5].event.hash());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 9)), ElementsAre(7, 8, 9));

  // Then March; the chain goes on (a later month) after everything was dropped.
  EXPECT_EQ(*store_->DropBefore(Utc(2024, 4, 1), 9, Deadline()), 3);
  EXPECT_EQ(store_->Horizon(Deadline())->first_sequence, 10);
  EXPECT_EQ(store_->Horizon(Deadline())->previous_hash, events[8].event.hash());
  EXPECT_THAT(Scan(*store_, 1, 100), IsEmpty());
  EXPECT_THAT(Found(*store_, by_patient), IsEmpty());
  EXPECT_EQ(store_->Head(Deadline())->sequence, 9);
  NewEvent next = chain.Next(Content("r10", Utc(2024, 4, 2)), Utc(2024, 4, 2));
  ASSERT_TRUE(AppendAll(*store_, {next}).ok());
  EXPECT_THAT(Sequences(Scan(*store_, 1, 100)), ElementsAre(10));
}

}  // namespace
}  // namespace hie::audit
